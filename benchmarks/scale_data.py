"""A typed order-line export of any size, generated fast enough for 100M lines: what a
warehouse export looks like (timestamps and numbers typed, ids as text), with the usual dirt
planted at known rates so the cleaning rules have work: lines without a customer, test
orders, free items, exact duplicates, and returns (a ``C`` order id and a negative quantity)
of an earlier purchase of the same customer and product.

About 20 lines per customer (6 orders of 1–6 lines, spread over the customer's lifetime: from
a day in the two years until they leave, after 365 days on average), 500 products with skewed
popularity. Written in blocks of customers, so memory stays at one block whatever the size.

    python benchmarks/scale_data.py --lines 100000000 --out benchmarks/data/orders_100M.parquet
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

START, DAYS = np.datetime64("2024-01-01T00:00:00", "s"), 731
LINES_PER_CUSTOMER = 20.0
LIFETIME_DAYS = 365
BLOCK_CUSTOMERS = 250_000
COUNTRIES = np.array(["United Kingdom", "Germany", "France", "Netherlands", "Ireland", "Spain"])
CHANNELS = np.array(["web", "store", "app"])
N_PRODUCTS = 500
POPULARITY = np.cumsum(1 / np.arange(1, N_PRODUCTS + 1) ** 1.1)[:-1] / np.sum(1 / np.arange(1, N_PRODUCTS + 1) ** 1.1)


def _block(rng: np.random.Generator, first_customer: int, n: int) -> pa.Table:
    orders_per = 1 + rng.negative_binomial(1.2, 1.2 / (1.2 + 5.0), size=n)  # mean about 6
    customer = np.repeat(np.arange(first_customer, first_customer + n), orders_per)
    start = rng.integers(0, DAYS, size=n)
    lifetime = rng.exponential(LIFETIME_DAYS, size=n).astype(np.int64) + 1  # then the customer leaves
    span = np.repeat(np.minimum(DAYS - start, lifetime), orders_per)
    day = np.repeat(start, orders_per) + (rng.random(len(customer)) * span).astype(np.int64)
    seconds = day * 86_400 + rng.integers(8 * 3600, 21 * 3600, size=len(customer))
    lines_per = rng.integers(1, 7, size=len(customer))  # 1-6, mean 3.5
    order = np.repeat(np.arange(len(customer)), lines_per)
    line_customer, line_time = customer[order], seconds[order]
    product = np.searchsorted(POPULARITY, rng.random(len(order)))
    quantity = rng.integers(1, 7, size=len(order)).astype(np.float64)
    price = np.round(2.0 + (product * 7919 % 9700) / 100.0, 2)
    price[rng.random(len(order)) < 0.002] = 0.0  # free items
    missing = rng.random(len(order)) < 0.005  # guest checkouts
    test = rng.random(len(order)) < 0.0005  # customer -1 becomes TEST-1
    line_customer = np.where(test, -1, line_customer)
    order_number = order + first_customer * 10
    # returns: 1% of lines come back 1-30 days later, in full or in part
    back = np.flatnonzero(rng.random(len(order)) < 0.01)
    returned = np.minimum(quantity[back], rng.integers(1, 4, size=len(back)))
    table = {
        "order_id": np.concatenate([order_number, order_number[back]]),
        "customer_id": np.concatenate([line_customer, line_customer[back]]),
        "order_date": np.concatenate([line_time, line_time[back] + rng.integers(1, 31, size=len(back)) * 86_400]),
        "product_id": np.concatenate([product, product[back]]),
        "quantity": np.concatenate([quantity, -returned]),
        "unit_price": np.concatenate([price, price[back]]),
        "country": np.concatenate([line_customer, line_customer[back]]) % len(COUNTRIES),
        "channel": rng.integers(0, len(CHANNELS), size=len(order) + len(back)),
    }
    is_return = np.concatenate([np.zeros(len(order), bool), np.ones(len(back), bool)])
    keep_id = ~np.concatenate([missing, missing[back]])
    dupes = rng.random(len(is_return)) < 0.005  # exported twice
    take = np.concatenate([np.arange(len(is_return)), np.flatnonzero(dupes)])
    take = take[np.argsort(table["order_date"][take], kind="stable")]  # each block in date order
    t = {name: values[take] for name, values in table.items()}
    text = lambda prefix, numbers: pc.binary_join_element_wise(prefix, pc.cast(pa.array(numbers), pa.string()), "")  # noqa: E731
    customer = text("C", t["customer_id"])
    customer = pc.if_else(pa.array(t["customer_id"] < 0), "TEST-1", customer)
    return pa.table(
        {
            "order_id": text(pc.if_else(pa.array(is_return[take]), "CO", "O"), t["order_id"]),
            "customer_id": pc.if_else(pa.array(keep_id[take]), customer, pa.scalar(None, pa.string())),
            "order_date": pa.array(START + t["order_date"].astype("timedelta64[s]"), pa.timestamp("us")),
            "product_id": text("P", t["product_id"]),
            "quantity": pa.array(t["quantity"]),
            "unit_price": pa.array(t["unit_price"]),
            "country": pa.DictionaryArray.from_arrays(t["country"], COUNTRIES).cast(pa.string()),
            "channel": pa.DictionaryArray.from_arrays(t["channel"], CHANNELS).cast(pa.string()),
        }
    )


def generate(lines: int, path: Path, seed: int = 7) -> int:
    """Write about ``lines`` lines to ``path``; returns how many were written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    customers, written, writer = round(lines / LINES_PER_CUSTOMER), 0, None
    try:
        for first in range(0, customers, BLOCK_CUSTOMERS):
            block = _block(rng, first, min(BLOCK_CUSTOMERS, customers - first))
            if writer is None:
                writer = pq.ParquetWriter(path, block.schema, compression="zstd")
            writer.write_table(block, row_group_size=1_000_000)
            written += block.num_rows
    finally:
        if writer is not None:
            writer.close()
    return written


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lines", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()
    start = time.perf_counter()
    n = generate(args.lines, args.out)
    print(f"{n:,} lines in {args.out} ({args.out.stat().st_size / 1e9:.2f} GB) in {time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
