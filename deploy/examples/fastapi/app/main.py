"""The example backend: the FastAPI app the gateway forwards /api to.

Run it on loopback only, behind the gateway (README.md):

    uvicorn app.main:app --host 127.0.0.1 --port 8000 --no-proxy-headers

(--no-proxy-headers: the TCP peer is the gateway, and the headers mode of
gateway_auth checks exactly that; uvicorn would otherwise replace it with
the X-Forwarded-For address the gateway sends.)

The routes keep the /api prefix (the gateway's upstream has strip_prefix
false), and match the repository's policy.csv: /api/health is public, every
signed-in user reads and creates items, editors change them.
"""

from __future__ import annotations

import itertools
import threading

from fastapi import Depends, FastAPI, HTTPException, Response, status
from pydantic import BaseModel, Field

from .gateway_auth import Identity, current_user, require_role

app = FastAPI(
    title="Example backend behind the gateway",
    docs_url="/api/docs",
    redoc_url=None,
    openapi_url="/api/openapi.json",
)

_lock = threading.Lock()
_ids = itertools.count(1)
_items: dict[int, dict] = {}


class NewItem(BaseModel):
    name: str = Field(min_length=1, max_length=200)


@app.get("/api/health")
def health() -> dict:
    """Public (policy: anonymous GET): no identity needed."""
    return {"status": "ok"}


@app.get("/api/items")
def list_items(user: Identity = Depends(current_user)) -> dict:
    """The items, and who the gateway said is asking (the React example
    shows this answer)."""
    with _lock:
        items = list(_items.values())
    return {"items": items, "identity": user.as_dict()}


@app.post("/api/items", status_code=status.HTTP_201_CREATED)
def create_item(body: NewItem, user: Identity = Depends(current_user)) -> dict:
    with _lock:
        item = {"id": next(_ids), "name": body.name, "owner": user.user_id}
        _items[item["id"]] = item
    return item


@app.delete("/api/items/{item_id}", status_code=status.HTTP_204_NO_CONTENT, response_class=Response, response_model=None)
def delete_item(item_id: int, user: Identity = Depends(require_role("editor", "admin"))) -> Response:
    # policy.csv lets editors (and admins, through `g, admin, editor`) DELETE;
    # the headers carry the user's own roles, hence both names here.
    with _lock:
        if _items.pop(item_id, None) is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, detail="no such item")
    return Response(status_code=status.HTTP_204_NO_CONTENT)
