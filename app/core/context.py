"""The request context every resolver receives."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from strawberry.types import Info as StrawberryInfo

from app.core.auth import Viewer
from app.core.errors import unauthenticated
from app.core.loaders import Loaders


@dataclass
class Context:
    """Who is calling, and the DataLoaders of this request."""

    viewer: Viewer | None
    request: Any = None
    response: Any = None
    connection_params: dict[str, Any] | None = None
    # Why ``viewer`` is None (no header, not Bearer, a placeholder, an unknown token).
    auth_problem: str | None = None
    loaders: Loaders = field(init=False)

    def __post_init__(self) -> None:
        self.loaders = Loaders(self.viewer)

    def require_viewer(self) -> Viewer:
        if self.viewer is None:
            raise unauthenticated(self.auth_problem) if self.auth_problem else unauthenticated()
        return self.viewer

    def fresh_loaders(self) -> Loaders:
        """New DataLoaders (a WebSocket context lives for the whole connection)."""
        self.loaders = Loaders(self.viewer)
        return self.loaders


Info = StrawberryInfo[Context, None]


def viewer_of(info: Info) -> Viewer:
    """The authenticated viewer of a resolver's request."""
    return info.context.require_viewer()


def loaders_of(info: Info) -> Loaders:
    return info.context.loaders
