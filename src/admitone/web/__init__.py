"""The pages people use: server-rendered HTML on the same services as the API routes."""
