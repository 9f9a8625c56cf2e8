"""The GraphQL API: schema (``schema.py``), resolvers, error mapping and limits."""
