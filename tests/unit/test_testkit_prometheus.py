"""testkit.prometheus: the HTTP service discovery it serves Debian's Prometheus."""

from __future__ import annotations

from typing import Any

from testkit.prometheus import NODE, config, pod_targets


def pod(name: str, *, node: str = NODE, phase: str = "Running", ip: str = "198.18.128.5") -> Any:
    return {
        "metadata": {
            "name": name,
            "namespace": "shop",
            "labels": {"app": "hello", "color": "green", "app.kubernetes.io/name": "web"},
        },
        "spec": {
            "nodeName": node,
            "containers": [
                {
                    "name": "a",
                    "ports": [{"containerPort": 8888}, {"containerPort": 53, "protocol": "UDP"}],
                },
                {"name": "b"},
            ],
        },
        "status": {"phase": phase, "podIP": ip},
    }


def test_pod_targets_are_the_running_pods_of_the_process_node() -> None:
    gone = pod("gone")
    gone["metadata"]["deletionTimestamp"] = "2026-01-01T00:00:00Z"
    groups = pod_targets(
        [
            pod("a"),
            pod("kwok", node="kwok-0"),
            pod("pending", phase="Pending"),
            pod("noip", ip=""),
            gone,
        ]
    )
    assert groups == [
        {
            "targets": ["198.18.128.5:8888"],
            "labels": {
                "app": "hello",
                "color": "green",
                "app_kubernetes_io_name": "web",
                "namespace": "shop",
                "pod": "a",
            },
        }
    ]


def test_config_scrapes_through_http_service_discovery() -> None:
    cfg = config("http://127.0.0.1:1234/targets", interval="2s")
    job = cfg["scrape_configs"][0]
    assert job["http_sd_configs"] == [
        {"url": "http://127.0.0.1:1234/targets", "refresh_interval": "2s"}
    ]
    assert cfg["global"]["scrape_interval"] == "2s"
