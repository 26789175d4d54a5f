"""Database workloads: an agent store queried on SQLite and PostgreSQL.

generator  deterministic dataset content and the answers it implies
dataset    the SQLite file on disk, its manifest, reuse or rebuild
queries    the five query classes (point, range, write, search, analytic)
engines    SQLite and PostgreSQL connections behind one small interface
clients    client processes that run timed rounds and check their answers
postgres   loading the dataset into a PostgreSQL database
pg_server  a throwaway local PostgreSQL server (tests, standard profile)
bench      the benchmark entry run in the worker
"""
