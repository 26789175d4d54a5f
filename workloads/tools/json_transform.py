"""Tool: parse a ~100 KB JSON API response, filter and reshape it, serialize.

Standard library only: this module's source is also shipped into a
sandboxed interpreter and run there.
"""
import json
import random

RECORDS = 330  # ~100 KB of JSON with the fields below
STATUSES = ("active", "suspended", "pending", "closed")
CITIES = ("Austin", "Berlin", "Chennai", "Dublin", "Espoo", "Fukuoka", "Geneva", "Hanoi")
TAGS = ("gpu", "cpu", "batch", "interactive", "eu", "us", "apac", "priority", "beta")


def make_input(seed):
    rng = random.Random(seed)
    data = []
    for i in range(RECORDS):
        data.append({
            "id": f"u-{seed}-{i:05d}",
            "name": "".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(10)),
            "email": f"user{i}@example.org",
            "status": rng.choice(STATUSES),
            "score": round(rng.uniform(0, 100), 3),
            "tags": rng.sample(TAGS, rng.randint(0, 5)),
            "address": {"city": rng.choice(CITIES), "zip": f"{rng.randint(0, 99999):05d}",
                        "street": f"{rng.randint(1, 999)} Main St"},
            "created": f"2026-{rng.randint(1, 12):02d}-{rng.randint(1, 28):02d}T12:00:00Z",
            "history": [rng.randint(0, 1000) for _ in range(8)],
        })
    return json.dumps({"data": data, "meta": {"page": 1, "seed": seed, "count": RECORDS}})


def run(text):
    doc = json.loads(text)
    kept = []
    for row in doc["data"]:
        if row["status"] != "active" or row["score"] < 50:
            continue
        kept.append({
            "id": row["id"],
            "name": row["name"].title(),
            "city": row["address"]["city"],
            "score_bucket": int(row["score"] // 10) * 10,
            "tag_count": len(row["tags"]),
            "history_total": sum(row["history"]),
        })
    kept.sort(key=lambda r: (-r["score_bucket"], r["id"]))
    by_city = {}
    for r in kept:
        by_city[r["city"]] = by_city.get(r["city"], 0) + 1
    out = {"items": kept, "by_city": by_city, "count": len(kept)}
    return json.dumps(out, sort_keys=True, separators=(",", ":")).encode()
