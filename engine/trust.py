"""Which model files coughscope may load: those signed with this user's secret key.

Why. Some saved models are pickles (``gbm.pkl``; pytorch-tabular's ``tabular/*.sav`` and
``tabular/model.ckpt``), and unpickling a file runs whatever code it carries. Run directories
get copied, shared and downloaded, so a hash stored beside a file stops accidents, not
attackers: whoever plants a file can rewrite the hash beside it. A keyed signature (HMAC)
cannot be made without the key, and the key never leaves the user's config directory.

* **The key**: 32 random bytes, hex, in ``<config dir>/run-key`` (:func:`engine.paths.config_dir`:
  ``$COUGHSCOPE_CONFIG_DIR`` or ``~/.config/coughscope``), created on first use with mode 0600
  in a 0700 folder. A key file that another user owns, or that group or others may read or
  write, is refused (:class:`~engine.errors.ConfigError`).
* **The signature**: ``<model dir>/signature.json`` holds the SHA-256 of every *artefact* of
  a model directory -- the files coughscope's loaders read: :data:`ARTEFACT_FILES` and every
  file under :data:`ARTEFACT_DIRS` -- its *context* (:func:`context`: the run id, the model
  and the seed the folder stands for, and the run's ``config.toml`` ``[preprocess]`` values
  that turn a recording into the model's input), and an HMAC-SHA256 of both under the key.
  So a model folder copied into another run or seed folder, or a run whose ``sample_rate``
  was edited, no longer verifies: its files are unchanged, but what they would be used for
  is not what was signed. A signature of the first format (contents only) is refused with a
  message saying to trust the run again.
  :func:`sign_model_dir` writes it whenever a model is saved (the runner calls it right after
  ``predictor.save``; the pickle-writing ``save`` methods call it themselves).
* **Verification**: :func:`verify_model_dir` runs before any file of a model directory is
  opened by a loader; it only hashes bytes, never parses them. The HMAC must hold under this
  user's key, every listed file must be there, a plain file, unchanged, and every artefact
  present must be listed. Otherwise :class:`UntrustedModel` (a :class:`RunError`, exit code
  2), naming the file and the visible command that trusts the run.
* **Trusting a run from elsewhere**: ``coughscope runs trust RUN`` lists a run's artefacts
  (:func:`run_model_dirs`, :func:`describe`) and re-signs them with the user's key
  (:func:`sign_model_dir`): an explicit decision that the run's origin is trusted.

Not covered: someone who can write into the run directory *while* coughscope reads it, or who
can read the key file (that is, the user's own account); files that are parsed, never
unpickled (``metrics.json``, ``config.toml``, ``data.json``, ``predictions.csv``), which the
readers validate instead; and ``last.pt`` (resume state), loaded with ``weights_only=True``.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import secrets
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import ConfigError, RunError
from . import paths
from .bounded import loads_json, seed_number
from .paths import atomic_write_text, config_dir

SIGNATURE = "signature.json"
FORMAT = "coughscope.signature/2"
OLD_FORMATS = ("coughscope.signature/1",)  # contents only: trusted again before loading
KEY_FILE = "run-key"
# what the loaders of engine.models read from a model directory; a new artefact that a loader
# reads must be added here, or it is neither signed nor checked
ARTEFACT_FILES = ("model.json", "best.pt", "logreg.npz", "gbm.pkl")
ARTEFACT_DIRS = ("tabular",)
PICKLE_SUFFIXES = (".pkl", ".sav", ".ckpt")  # artefacts loaded by unpickling: can run code
MAX_ARTEFACT_BYTES = 8 << 30  # a ResNet-50 checkpoint is ~100 MB; refuse before hashing more
MAX_SIGNATURE_BYTES = 1 << 20


class UntrustedModel(RunError):
    """A model directory whose artefacts are not signed with this user's key, or changed."""


# ----------------------------------------------------------------------------- the key


def key_path() -> Path:
    return config_dir() / KEY_FILE


def load_key(create: bool = False) -> bytes | None:
    """This user's key (``create``: made on first use); None when there is none yet."""
    path = key_path()
    if not path.exists() and not path.is_symlink():
        if not create:
            return None
        _create_key(path)
    return _read_key(path)


def _create_key(path: Path) -> None:
    """Write a new key with mode 0600; two processes racing here end with one key."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp.unlink(missing_ok=True)  # left by a killed process with our pid (or planted):
        # removing a name never touches what a link points to
        # exclusive and never through a link: a name planted here cannot redirect the key
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0),
                     0o600)
        try:
            os.write(fd, (secrets.token_hex(32) + "\n").encode("ascii"))
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(tmp, path)  # atomic, and fails if another process made the key first
        except FileExistsError:
            pass
        finally:
            tmp.unlink(missing_ok=True)
    except OSError as exc:
        raise ConfigError(f"cannot create the key file {path}: {exc.strerror or exc}",
                          f"make {path.parent} writable, or point COUGHSCOPE_CONFIG_DIR at a "
                          "private folder") from None


def _read_key(path: Path) -> bytes:
    fix = (f"delete {path}: a new key is made on the next run; runs signed with the old one "
           "must then be trusted again (coughscope runs trust RUN)")
    try:
        st = path.stat()
        if not stat.S_ISREG(st.st_mode):
            raise ConfigError(f"the key file {path} is not a plain file", fix)
        if os.name == "posix":
            if st.st_uid != os.getuid():
                raise ConfigError(f"the key file {path} belongs to another user (uid "
                                  f"{st.st_uid})", fix)
            if st.st_mode & 0o077:
                raise ConfigError(
                    f"the key file {path} can be read or written by other users (mode "
                    f"{stat.S_IMODE(st.st_mode):04o}): whoever reads it can sign run files",
                    f"chmod 600 {path} (and if others may have read it, {fix})")
        text = path.read_text(encoding="ascii").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"the key file {path} cannot be read: {exc}", fix) from None
    try:
        key = bytes.fromhex(text)
    except ValueError:
        key = b""
    if len(key) != 32:
        raise ConfigError(f"the key file {path} is damaged (expected 64 hex digits)", fix)
    return key


def key_id(key: bytes) -> str:
    """A short public name for a key (a hash of it), to tell keys apart in messages."""
    return hashlib.sha256(b"coughscope key id\0" + key).hexdigest()[:16]


# ----------------------------------------------------------------------------- artefacts


def artefacts(model_dir: Path) -> list[str]:
    """The artefacts present in ``model_dir``, relative POSIX paths, sorted. Anything there
    that is not a plain file (a link, a FIFO, a device) is refused: it is never opened."""
    model_dir = Path(model_dir)
    found = []
    for name in ARTEFACT_FILES:
        if os.path.lexists(model_dir / name):
            found.append(name)
    for name in ARTEFACT_DIRS:
        top = model_dir / name
        if not os.path.lexists(top):
            continue
        if top.is_symlink() or not top.is_dir():
            raise UntrustedModel(f"{top} is not a plain folder (a link or a special file)",
                                 _hint(model_dir))
        def unreadable(exc: OSError) -> None:
            raise UntrustedModel(f"{exc.filename} cannot be read: {exc.strerror}",
                                 "check the folder's permissions")

        for root, dirs, files in os.walk(top, onerror=unreadable):  # links are not followed
            for entry in sorted(dirs + files):
                full = Path(root) / entry
                if entry in files or full.is_symlink():
                    found.append(full.relative_to(model_dir).as_posix())
    for rel in found:
        _check_plain(model_dir, rel)
    return sorted(found)


def _check_plain(model_dir: Path, rel: str) -> os.stat_result:
    path = model_dir / rel
    try:
        st = os.lstat(path)
    except OSError as exc:
        raise UntrustedModel(f"{path} cannot be read: {exc.strerror}",
                             "check the file's permissions") from None
    if not stat.S_ISREG(st.st_mode):
        raise UntrustedModel(f"{path} is not a plain file (a link, folder or special file); "
                             "coughscope does not open it", _hint(model_dir))
    if st.st_size > MAX_ARTEFACT_BYTES:
        raise UntrustedModel(f"{path} is {st.st_size} bytes, far more than any coughscope model "
                             f"(at most {MAX_ARTEFACT_BYTES} bytes)", _hint(model_dir))
    return st


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    try:
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    except OSError as exc:
        raise UntrustedModel(f"{path} cannot be read: {exc.strerror}",
                             "check the file's permissions") from None
    return h.hexdigest()


def _mac(key: bytes, files: dict[str, str], ctx: dict[str, Any]) -> str:
    body = json.dumps({"format": FORMAT, "files": files, "context": ctx}, sort_keys=True,
                      separators=(",", ":"), allow_nan=False)
    return hmac.new(key, body.encode("utf-8"), hashlib.sha256).hexdigest()


def context(model_dir: Path) -> dict[str, Any]:
    """What a model folder at ``RUN/<model>/<seed>/`` is used as, and signed with: the run id
    (the run folder's name), the model, the seed, and ``RUN/config.toml``'s ``[preprocess]``
    table (``None`` when the run has no config.toml). A config.toml that cannot be read is an
    :class:`UntrustedModel`: what the model would be fed is unknown."""
    model_dir = Path(os.path.abspath(model_dir))
    run = model_dir.parent.parent
    return {"run_id": run.name, "model": model_dir.parent.name, "seed": model_dir.name,
            "preprocess": _preprocess_values(run / "config.toml", model_dir)}


def _preprocess_values(path: Path, model_dir: Path) -> dict[str, Any] | None:
    from .bounded import MAX_RUN_FILE_BYTES, loads_toml

    if not os.path.lexists(path):
        return None
    try:
        if not stat.S_ISREG(os.lstat(path).st_mode):
            raise ValueError("not a plain file")
        if path.stat().st_size > MAX_RUN_FILE_BYTES:
            raise ValueError("far too large")
        table = loads_toml(path.read_text(encoding="utf-8")).get("preprocess", {})
        if not isinstance(table, dict):
            raise ValueError("[preprocess] is not a table")
        return json.loads(json.dumps(table, sort_keys=True, default=str, allow_nan=False))
    except (OSError, ValueError, UnicodeDecodeError) as exc:
        raise UntrustedModel(f"{path} cannot be read ({exc}), so the models of the run cannot "
                             "be checked against it", _hint(model_dir)) from None


def _context_change(signed: Any, now: dict[str, Any]) -> str | None:
    """How the signed context differs from the folder's context now, in words (None: same)."""
    if not isinstance(signed, dict):
        return "its context is not recorded"
    for field, what in (("run_id", "run"), ("model", "model"), ("seed", "seed")):
        if signed.get(field) != now[field]:
            return (f"was signed for {what} {signed.get(field)!r}, but the folder is now "
                    f"{what} {now[field]!r}: it was copied or moved from elsewhere")
    old, new = signed.get("preprocess") or {}, now["preprocess"] or {}
    if signed.get("preprocess") != now["preprocess"]:
        keys = sorted(k for k in set(old) | set(new) if old.get(k) != new.get(k))
        changed = ", ".join(f"{k} = {old.get(k)!r} when signed, {new.get(k)!r} now"
                            for k in keys[:4]) or "the [preprocess] table"
        return (f"was signed with other preprocessing in the run's config.toml ({changed}): "
                "the model would be fed inputs it was not trained on")
    return None


# ----------------------------------------------------------------------------- sign and verify


def sign_model_dir(model_dir: Path, root: Path | None = None, *, at: Path | None = None
                   ) -> Path:
    """Sign every artefact in ``model_dir`` with this user's key (made on first use).

    ``root``: the run folder the signature must stay inside (default: ``model_dir``); a
    model folder that is, or is reached through, a symbolic link is refused. ``at``: where
    the folder will be used, when it is signed in a staging folder before being renamed
    there (its :func:`context` is that place's; default ``model_dir``)."""
    model_dir = Path(model_dir)
    root = model_dir if root is None else Path(root)
    paths.inside(root, model_dir / SIGNATURE)
    key = load_key(create=True)
    assert key is not None  # made above when absent
    files = {rel: _sha256(model_dir / rel) for rel in artefacts(model_dir)}
    ctx = context(model_dir if at is None else at)
    body = {"format": FORMAT, "key_id": key_id(key), "context": ctx, "files": files,
            "hmac": _mac(key, files, ctx)}
    path = model_dir / SIGNATURE
    atomic_write_text(path, json.dumps(body, indent=2, allow_nan=False) + "\n", root=root)
    return path


def verify_model_dir(model_dir: Path) -> dict[str, str]:
    """Check ``model_dir`` before anything in it is loaded; returns the signed hashes.

    Raises :class:`UntrustedModel` naming the files that fail: no signature, a signature
    made with another key or altered, artefacts changed, added (present but not listed) or
    missing, or an artefact that is not a plain file.
    """
    model_dir = Path(model_dir)
    sig_path = model_dir / SIGNATURE
    hint = _hint(model_dir)
    if not os.path.lexists(sig_path):
        raise UntrustedModel(
            f"{model_dir} has no {SIGNATURE}: it was not saved by coughscope under your account "
            "(or was saved before coughscope signed its models)", hint)
    _check_plain(model_dir, SIGNATURE)
    signature = _read_signature(sig_path, hint)
    key = load_key(create=False)
    files: dict[str, str] = signature["files"]
    if signature["format"] in OLD_FORMATS:
        raise UntrustedModel(
            f"{sig_path} was made by an older coughscope that signed the files only, not the "
            "run, model, seed and preprocessing they belong to; trust the run again to sign "
            "them together", hint)
    now = context(model_dir)
    if key is None or signature.get("key_id") != key_id(key):
        raise UntrustedModel(f"{sig_path} was made with another key: the run comes from "
                             "another user or machine", hint)
    change = _context_change(signature.get("context"), now)
    if change is not None:
        raise UntrustedModel(f"{model_dir} {change} ({sig_path})", hint)
    if not hmac.compare_digest(_mac(key, files, now), signature["hmac"]):
        raise UntrustedModel(f"{sig_path} does not match the files it lists: it was changed "
                             "after coughscope wrote it", hint)
    present = artefacts(model_dir)  # refuses links and special files before any is opened
    missing, changed = [], []
    for rel, expected in files.items():
        if not _safe_relative(rel):
            raise UntrustedModel(f"{sig_path} lists {rel!r}, which is outside {model_dir}", hint)
        if rel not in present:
            missing.append(rel)
        elif not hmac.compare_digest(_sha256(model_dir / rel), expected):
            changed.append(rel)
    added = [rel for rel in present if rel not in files]
    problems = [(changed, "was changed after it was signed", "were changed after they were signed"),
                (added, "is not covered by the signature: it was added after coughscope saved "
                 "the model", "are not covered by the signature: they were added after "
                 "coughscope saved the model"),
                (missing, "is missing", "are missing")]
    for rels, one, several in problems:
        if rels:
            names = ", ".join(str(model_dir / rel) for rel in rels)
            raise UntrustedModel(f"{names} {one if len(rels) == 1 else several} ({sig_path})",
                                 hint)
    return dict(files)


def _read_signature(path: Path, hint: str) -> dict[str, Any]:
    try:
        if path.stat().st_size > MAX_SIGNATURE_BYTES:
            raise ValueError("far too large")
        signature = loads_json(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UntrustedModel(f"{path} cannot be read: {exc.strerror}",
                             "check the file's permissions") from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise UntrustedModel(f"{path} is not a coughscope signature ({exc})", hint) from None
    ok = (isinstance(signature, dict) and signature.get("format") in (FORMAT, *OLD_FORMATS)
          and isinstance(signature.get("hmac"), str)
          and isinstance(signature.get("files"), dict)
          and all(isinstance(k, str) and isinstance(v, str)
                  for k, v in signature["files"].items()))
    if not ok:
        raise UntrustedModel(f"{path} is not a coughscope signature ({FORMAT})", hint)
    return signature


def _safe_relative(rel: str) -> bool:
    parts = Path(rel).parts
    return bool(parts) and not Path(rel).is_absolute() and ".." not in parts


def _hint(model_dir: Path) -> str:
    run = Path(model_dir).resolve().parent.parent
    return ("some coughscope models are pickles, and loading a pickle can run code planted in "
            "it. If you trust where this run came from (you made it, or know who did), sign it "
            f"with your key: coughscope runs trust {run}")


# ----------------------------------------------------------------------------- whole runs


@dataclass
class ModelDirState:
    """A model directory of a run, its artefacts, and whether they verify now."""

    path: Path
    files: list[str]
    problem: str | None  # None: signed with this user's key and unchanged

    @property
    def pickles(self) -> list[str]:
        return [f for f in self.files if f.endswith(PICKLE_SUFFIXES)]


def run_model_dirs(run: Path) -> list[Path]:
    """``RUN/<model>/<seed>/`` folders that hold any model file (see :func:`artefacts`)."""
    out = []
    for seed_dir in sorted(Path(run).glob("*/*/")):
        if seed_number(seed_dir.name) is not None and seed_dir.is_dir() and any(
                os.path.lexists(seed_dir / name) for name in ARTEFACT_FILES + ARTEFACT_DIRS):
            out.append(seed_dir)
    return out


def describe(model_dir: Path) -> ModelDirState:
    """The artefacts of ``model_dir`` and the reason it does not verify (None if it does)."""
    try:
        files = artefacts(model_dir)
    except UntrustedModel as exc:
        return ModelDirState(Path(model_dir), [], str(exc))
    try:
        verify_model_dir(model_dir)
        problem = None
    except UntrustedModel as exc:
        problem = str(exc)
    return ModelDirState(Path(model_dir), files, problem)
