"""Benchmark: embed the Reddit texts of ``../shared/data`` through the asset path, and the
same texts with a bare ``SentenceTransformer.encode``, in one process.

1. ``social_text`` is materialized for every day of the Reddit files x the universe (a
   single-run backfill through ``quant_assets.runs.materialize``, on a SQLite Dagster
   instance in a temporary home, as a local deployment has).
2. ``text_embeddings`` is materialized with an empty cache, in ``--chunks`` consecutive day
   ranges (one single-run backfill each). Each range is timed end to end (reading
   partitions, hashing, cache lookups, encoding, writing the cache and the lake, Dagster's
   per-partition events); right beside it (alternately before and after) a separately
   loaded, bare ``SentenceTransformer`` encodes the same new texts with the same batch size.
   Interleaving keeps other load on a shared machine from favouring either side.
   ``asset_texts_per_s`` and ``raw_texts_per_s`` are total texts / total seconds.
3. ``text_embeddings`` is materialized again over everything: it must embed 0 texts.

Both models are loaded and warmed before anything is timed. The last line printed is JSON:
``asset_texts_per_s``, ``raw_texts_per_s``, ``ratio`` (asset / raw; target >= 0.9) and
``second_materialization_texts_embedded`` (target 0), plus the details.

    HF_HUB_OFFLINE=1 python benchmarks/bench_embeddings.py [--data ../shared/data] [--days N]
"""

import argparse
import json
import os
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--data", default=str(REPO.parent / "shared" / "data"), help="folder with reddit_crypto_{posts,comments}.parquet")
    p.add_argument("--symbols", default="BTC-USDT,ETH-USDT,SOL-USDT")
    p.add_argument("--start", default="2025-09-29", help="first day (the Reddit files start 2025-09-29)")
    p.add_argument("--end", default="2025-11-30", help="last day")
    p.add_argument("--days", type=int, default=0, help="only the first N days (0: all), for a quick run")
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--device", default="cpu")
    p.add_argument("--chunks", type=int, default=4, help="day ranges to interleave asset and bare timings over")
    return p.parse_args()


def main() -> int:
    args = parse_args()
    home = tempfile.mkdtemp(prefix="bench-embeddings-")
    # Partition definitions are built from the environment at import: set it first.
    os.environ.update(
        {
            "QUANT_ASSETS_HOME": home,
            "DAGSTER_HOME": str(Path(home) / "dagster"),
            "QUANT_ASSETS_SYMBOLS": args.symbols,
            "QUANT_ASSETS_START_DATE": args.start,
            "HF_HUB_OFFLINE": "1",
        }
    )
    Path(home, "dagster").mkdir(parents=True)
    if (REPO / "dagster.yaml").exists():  # the project's instance settings (SQLite, no telemetry)
        Path(home, "dagster", "dagster.yaml").write_text((REPO / "dagster.yaml").read_text())

    import torch
    from dagster import DagsterInstance, Definitions, load_asset_checks_from_modules
    from sentence_transformers import SentenceTransformer

    from quant_assets import runs, settings
    from quant_assets.assets import social, social_checks
    from quant_assets.lake.store import ParquetLake
    from quant_assets.partitions import DaySymbol, days_between
    from quant_assets.resources.embedding import EmbeddingModel
    from quant_assets.resources.lake import LakeResource
    from quant_assets.resources.social_data import FileDropSocialText, SocialLinking
    from quant_assets.text.model import load_encoder, packaged_model_path

    symbols = settings.universe()
    last = date.fromisoformat(args.end)
    days = days_between(date.fromisoformat(args.start), last)
    if args.days:
        days = days[: args.days]
    parts = [DaySymbol(d, s) for d in days for s in symbols]
    embedding = EmbeddingModel(cache_root=str(Path(home) / "cache" / "embeddings"), batch_size=args.batch_size, device=args.device)
    defs = Definitions(
        assets=[social.social_text, social.text_embeddings],
        # The blocking checks of both assets run too: they are part of the asset path.
        asset_checks=[
            c
            for c in load_asset_checks_from_modules([social_checks])
            if all(k.asset_key.path[0] in ("social_text", "text_embeddings") for k in c.check_keys)
        ],
        resources={
            "lake": LakeResource(root=settings.home().lake),
            "social_source": FileDropSocialText(folder=args.data),
            "social_linking": SocialLinking(),
            "embedding_model": embedding,
        },
    )

    def log(msg):
        print(msg, file=sys.stderr, flush=True)

    def materialize(asset, instance, subset):
        started = time.perf_counter()
        results = runs.materialize(defs, [asset], subset, symbols, instance)
        seconds = time.perf_counter() - started
        if not all(r.success for r in results):
            raise SystemExit(f"materializing {asset} failed")
        return results, seconds

    def embed_meta(results) -> dict:
        out: dict = {}
        for result in results:
            for m in result.asset_materializations_for_node("text_embeddings"):
                for key in ("run_texts_embedded", "run_cache_hits", "run_unique_texts", "run_rows", "run_encode_seconds"):
                    if key in m.metadata:
                        out[key] = out.get(key, 0) + m.metadata[key].value
                break
        return out

    def raw_encode(texts) -> float:
        started = time.perf_counter()
        vectors = bare.encode(texts, batch_size=args.batch_size, convert_to_numpy=True, show_progress_bar=False)
        seconds = time.perf_counter() - started
        assert vectors.shape == (len(texts), 384)
        return seconds

    # Load and warm both models before any timing.
    encoder = load_encoder(device=args.device, batch_size=args.batch_size)
    encoder.encode(["warm up"])
    bare = SentenceTransformer(str(packaged_model_path()), device=args.device)
    bare.encode(["warm up"], batch_size=args.batch_size)

    size = -(-len(days) // max(1, args.chunks))
    chunks = [days[i : i + size] for i in range(0, len(days), size)]
    totals = {"asset_seconds": 0.0, "raw_seconds": 0.0, "texts": 0, "rows": 0, "encode_seconds": 0.0}
    seen: set[str] = set()
    with DagsterInstance.get() as instance:
        log(f"social_text: {len(parts)} partitions ({days[0]}..{days[-1]} x {len(symbols)} symbols)")
        _, social_seconds = materialize("social_text", instance, parts)
        lake = ParquetLake(settings.home().lake)
        for i, chunk in enumerate(chunks):
            subset = [p for p in parts if p.day in set(chunk)]
            texts = [
                t
                for t in lake.read_many("social_text", subset).get_column("text").drop_nulls().unique(maintain_order=True).to_list()
                if t not in seen
            ]
            seen.update(texts)
            log(f"chunk {i + 1}/{len(chunks)} {chunk[0]}..{chunk[-1]}: {len(texts)} new texts")
            if i % 2:
                raw_seconds = raw_encode(texts)
            results, asset_seconds = materialize("text_embeddings", instance, subset)
            if not i % 2:
                raw_seconds = raw_encode(texts)
            got = embed_meta(results)
            if got["run_texts_embedded"] != len(texts):
                raise SystemExit(f"asset embedded {got['run_texts_embedded']} texts, expected {len(texts)} new ones")
            totals["asset_seconds"] += asset_seconds
            totals["raw_seconds"] += raw_seconds
            totals["texts"] += len(texts)
            totals["rows"] += got["run_rows"]
            totals["encode_seconds"] += got["run_encode_seconds"]
            log(f"  asset {asset_seconds:.1f}s (encode {got['run_encode_seconds']:.1f}s), bare {raw_seconds:.1f}s")

        log("text_embeddings again, everything ...")
        second, second_seconds = materialize("text_embeddings", instance, parts)
        second_meta = embed_meta(second)

    n = totals["texts"]
    asset_seconds, raw_seconds = totals["asset_seconds"], totals["raw_seconds"]
    asset_rate, raw_rate = n / asset_seconds, n / raw_seconds
    report = {
        "asset_texts_per_s": round(asset_rate, 2),
        "raw_texts_per_s": round(raw_rate, 2),
        "ratio": round(asset_rate / raw_rate, 3),
        "second_materialization_texts_embedded": second_meta["run_texts_embedded"],
        "texts_embedded": n,
        "rows": totals["rows"],
        "partitions": len(parts),
        "chunks": len(chunks),
        "asset_seconds": round(asset_seconds, 2),
        "asset_encode_seconds": round(totals["encode_seconds"], 2),
        "raw_seconds": round(raw_seconds, 2),
        "second_materialization_seconds": round(second_seconds, 2),
        "second_materialization_cache_hits": second_meta["run_cache_hits"],
        "social_text_seconds": round(social_seconds, 2),
        "batch_size": args.batch_size,
        "device": args.device,
        "torch_threads": torch.get_num_threads(),
        "model_version": encoder.model_version,
    }
    print(
        f"asset path {asset_rate:.1f} texts/s ({n} texts in {asset_seconds:.1f}s), bare encode "
        f"{raw_rate:.1f} texts/s ({raw_seconds:.1f}s), ratio {asset_rate / raw_rate:.3f}; "
        f"second materialization embedded {second_meta['run_texts_embedded']} texts in {second_seconds:.1f}s"
    )
    print(json.dumps(report))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
