"""What every domain shares: auth and scoping, ids, pagination, errors, scalars,
DataLoaders and the event bus."""
