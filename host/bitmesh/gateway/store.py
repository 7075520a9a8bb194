"""Gateway secrets on disk: the API token and the host node's identity.

Both live in the user config dir (``platformdirs.user_config_dir("bitmesh")``)
unless a path is given, and are created with mode 0600 when missing. The
identity file also keeps the boot count, incremented at every start: the core
numbers frames ``boot_count << 20 | counter``, and a restarted node that reused
an old boot count would see its frames dropped as replays.
"""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

from platformdirs import user_config_dir

from bitmesh.errors import UsageError
from bitmesh.privatefile import write_private
from bitmesh_core.identity import Identity


def config_dir() -> Path:
    return Path(user_config_dir("bitmesh"))


def default_token_path() -> Path:
    return config_dir() / "gateway.token"


def load_or_create_token(path: Path | None = None) -> tuple[str, bool]:
    """The API token in ``path`` (default: the user config dir), created with
    mode 0600 when missing. Returns (token, created)."""
    p = path or default_token_path()
    try:
        tok = p.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        tok = ""
    except OSError as exc:
        raise UsageError(f"cannot read token file {p}: {exc.strerror}") from exc
    if tok:
        return tok, False
    tok = secrets.token_urlsafe(32)
    write_private(p, tok + "\n")
    return tok, True


def read_token(path: Path | None = None) -> str:
    """The token a client presents; UsageError when the file is missing."""
    p = path or default_token_path()
    try:
        tok = p.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        raise UsageError(f"no token file {p}: start `bitmesh gateway` first "
                         "or pass --token-file") from None
    except OSError as exc:
        raise UsageError(f"cannot read token file {p}: {exc.strerror}") from exc
    if not tok:
        raise UsageError(f"token file {p} is empty")
    return tok


def load_or_create_identity(path: Path, secret: bytes | None = None) -> tuple[Identity, int]:
    """The host node's identity and this start's boot count.

    ``secret`` (e.g. from the inventory) overrides the stored secret. The file
    ``{"secret": hex, "boot_count": n}`` is rewritten (0600) with n + 1.
    """
    doc: dict[str, object] = {}
    if path.exists():
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
            if isinstance(raw, dict):
                doc = raw
        except (OSError, ValueError) as exc:
            raise UsageError(f"identity file {path} is unreadable: {exc}") from exc
    stored = doc.get("secret")
    if secret is None:
        if isinstance(stored, str) and len(stored) == 64:
            try:
                secret = bytes.fromhex(stored)
            except ValueError:
                raise UsageError(f"identity file {path}: secret is not hex") from None
        else:
            secret = os.urandom(32)
    boot = doc.get("boot_count")
    boot_count = (boot + 1) if isinstance(boot, int) and 0 <= boot < 0xFFF else 0
    write_private(path, json.dumps({"secret": secret.hex(), "boot_count": boot_count}) + "\n")
    return Identity.from_secret(secret), boot_count
