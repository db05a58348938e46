def test_smoke(consumer):
    a = consumer
    print(a.datasets.describe("market.enterprise"))
    print(a.datasets.preview("market.enterprise", 3))
    f = a.datasets.materialise("market.enterprise", "parquet"); print(f.path, f.rows, f.size)
    f2 = a.datasets.materialise("market.enterprise", "parquet"); print(f2.id == f.id)
    print(a.datasets.link("market.enterprise", "csv", "1h"))
