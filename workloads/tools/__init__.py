"""Python tool execution: a catalog of agent tools, the ways to run them
(warm pool, fresh process, fresh sandboxed interpreter) and a load generator."""
