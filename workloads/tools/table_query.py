"""Tool: pandas over CSV text: read two tables, join, group-by, top-k."""
import io
import random

ORDERS = 4000
CUSTOMERS = 400
TOP_K = 10
REGIONS = ("north", "south", "east", "west", "central")
CATEGORIES = ("compute", "storage", "network", "support", "licence", "training")


def make_input(seed):
    rng = random.Random(seed)
    customers = ["customer_id,region,tier"]
    for c in range(CUSTOMERS):
        customers.append(f"{c},{rng.choice(REGIONS)},{rng.randint(1, 3)}")
    orders = ["order_id,customer_id,category,amount,quantity"]
    for o in range(ORDERS):
        orders.append(f"{o},{rng.randrange(CUSTOMERS)},{rng.choice(CATEGORIES)},"
                      f"{rng.uniform(1, 5000):.2f},{rng.randint(1, 20)}")
    return {"orders": "\n".join(orders), "customers": "\n".join(customers)}


def run(payload):
    import pandas as pd

    orders = pd.read_csv(io.StringIO(payload["orders"]))
    customers = pd.read_csv(io.StringIO(payload["customers"]))
    joined = orders.merge(customers, on="customer_id", how="inner")
    joined = joined[joined["tier"] >= 2]
    grouped = (joined.groupby(["region", "category"], sort=True)
               .agg(revenue=("amount", "sum"), orders=("order_id", "count"),
                    units=("quantity", "sum"))
               .reset_index())
    top = grouped.sort_values(["revenue", "region", "category"],
                              ascending=[False, True, True]).head(TOP_K)
    return top.to_csv(index=False, float_format="%.2f").encode()
