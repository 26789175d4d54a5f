"""Agent runtimes beyond Python: the JVM and Node.js.

runtimes.py finds `java`, `javac` and `node` (or says how to install
them); start.py is the cold-start benchmarks, javacorpus.py and
compile_java.py compile.java, the tools' Java and JavaScript servers
(ToolServer.java, tool_server.js) run in a warm pool (pool.py, tools.py).
specs.py holds the light specs and the profile table.
"""
