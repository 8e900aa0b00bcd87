"""Sharding: which recordings this operator process owns, for clusters that outgrow one operator.

Several operator Deployments can share a cluster, each owning a shard:

- by namespace: each runs with its own `--namespace` set (kopf watches only those);
- by label: each runs with `SHARD_LABEL_SELECTOR`, e.g. `recording.mediaops.io/shard=a`; every
  handler of every kind is registered with that label filter (kopf's `labels=`), so objects without
  the label (or with another value) are never handled, patched or finalized by this process.

Each shard keeps kopf peering for HA among its own replicas under its own peering name
(`--peering-name`), so replicas of different shards never wait for each other. RecordedFiles a
recording publishes carry its shard labels (`shard_labels_of`), so they stay in the same shard, and
each shard has its own finalizer name (`SHARD_FINALIZER`).

The selector is equality-based, comma-separated: `key=value`, `key` (present) or `!key` (absent).
It is read when this module is imported, as kopf needs the filters when handlers are registered.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from typing import Any

import kopf

from recording_operator.api import FINALIZER

#: Environment variable holding the shard's label selector.
ENV = "SHARD_LABEL_SELECTOR"


def parse_selector(text: str) -> dict[str, Any] | None:
    """`a=b,c,!d` → kopf's labels filter `{"a": "b", "c": kopf.PRESENT, "d": kopf.ABSENT}`;
    None for an empty selector (no filter).

    Raises:
        ValueError: a term is empty, or uses a set-based (`in`, `notin`) or `!=` form.
    """
    labels: dict[str, Any] = {}
    for raw in text.split(","):
        term = raw.strip()
        if not term and text.strip():
            raise ValueError(f"{ENV}={text!r}: empty term")
        if not term:
            continue
        if "!=" in term or " in " in term or " notin " in term or "(" in term:
            raise ValueError(f"{ENV}={text!r}: only key=value, key and !key are supported")
        if term.startswith("!"):
            labels[term[1:].strip()] = kopf.ABSENT
        elif "=" in term:
            key, _, value = term.partition("=")
            labels[key.strip()] = value.lstrip("=").strip()
        else:
            labels[term] = kopf.PRESENT
    return labels or None


#: The label filter of every handler of this process (None: the whole cluster or namespace set).
SHARD_LABELS: dict[str, Any] | None = parse_selector(os.environ.get(ENV, ""))


def finalizer_for(selector: str) -> str:
    """The finalizer of a shard: `recording.mediaops.io/cleanup` without a selector, else
    `recording.mediaops.io/cleanup-<first 10 hex of sha256(selector)>`.

    kopf removes its finalizer from an object none of its handlers match; with one shared name,
    a shard would strip the finalizer another shard put on its own recording (and its session
    would never be stopped). One name per shard keeps each shard's finalizers its own.
    """
    if not selector.strip():
        return FINALIZER
    return f"{FINALIZER}-{hashlib.sha256(selector.strip().encode()).hexdigest()[:10]}"


#: The finalizer this process puts on (and removes from) the objects of its shard.
SHARD_FINALIZER = finalizer_for(os.environ.get(ENV, ""))


def shard_labels_of(labels: Mapping[str, str] | None) -> dict[str, str]:
    """The labels of an owner (a recording) that place its children (RecordedFiles) in the same
    shard: those `key=value` and `key` terms of the selector name, copied with their values."""
    if not SHARD_LABELS or not labels:
        return {}
    return {k: labels[k] for k, v in SHARD_LABELS.items() if v is not kopf.ABSENT and k in labels}
