"""Prompt templates: `prompts/<name>.j2` (Jinja2), loaded by name, each with a version hash.

Where templates live: the top-level `prompts/` folder of a checkout, or `orchestrator/_prompts`
inside an installed wheel (pyproject force-includes the folder there). A checkout wins.

Template convention: a template may define `{% block system %}` and `{% block user %}`; each
becomes one message. Without blocks, the whole rendering is the user message. Code appends the
JSON answer format to the system message of structured tasks, so templates need not repeat it.

Failure contract: an unknown template name raises `ConfigError` naming the folders searched; a
template that fails to render (undefined variable) raises `ConfigError` with the Jinja message.
"""

from __future__ import annotations

import functools
import hashlib
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2

from orchestrator.errors import ConfigError

_PACKAGE_DIR = Path(__file__).resolve().parents[1]
PROMPT_DIRS = (_PACKAGE_DIR.parent / "prompts", _PACKAGE_DIR / "_prompts")


@dataclass(frozen=True)
class RenderedPrompt:
    name: str
    version: str  # first 12 hex digits of the template source's sha256
    system: str
    user: str

    def messages(self, *, system_suffix: str = "") -> list[dict[str, Any]]:
        system = "\n\n".join(part for part in (self.system.strip(), system_suffix) if part)
        out: list[dict[str, Any]] = []
        if system:
            out.append({"role": "system", "content": system})
        out.append({"role": "user", "content": self.user.strip()})
        return out


def _prompt_dir() -> Path:
    return _first_folder(PROMPT_DIRS)


@functools.lru_cache(maxsize=4)
def _first_folder(folders: tuple[Path, ...]) -> Path:
    # Looked up once per process: where the templates live does not change while it runs (and
    # looking twice per rendered prompt was a measurable part of a 50-ticker cycle).
    for folder in folders:
        if folder.is_dir():
            return folder
    raise ConfigError(
        "No prompt templates found (looked in " + ", ".join(str(p) for p in folders) + ")."
    )


@functools.lru_cache(maxsize=1)
def _environment(folder: Path) -> jinja2.Environment:
    # StrictUndefined: a missing variable is a bug in the caller, not an empty string in a prompt.
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(folder)),
        undefined=jinja2.StrictUndefined,
        autoescape=False,
        keep_trailing_newline=False,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    # `tojson` on briefs holding dates and decimals: show them as text rather than fail.
    environment.policies["json.dumps_kwargs"] = {"sort_keys": True, "default": str}
    return environment


def template_source(name: str) -> tuple[str, str]:
    """The template's source text and its version hash."""
    folder = _prompt_dir()
    path = folder / f"{name}.j2"
    try:
        found = path.stat()
    except OSError:
        found = None
    if found is None or not stat.S_ISREG(found.st_mode):
        raise ConfigError(f"Prompt template {name!r} not found: expected {path}.")
    return _read_source(str(path), found.st_mtime_ns, found.st_size)


@functools.lru_cache(maxsize=64)
def _read_source(path: str, _mtime_ns: int, _size: int) -> tuple[str, str]:
    # Keyed by modification time and size: an edited template is read again, an unchanged one
    # is not read and hashed on every call (a cycle renders two prompts per ticker).
    source = Path(path).read_text(encoding="utf-8")
    return source, hashlib.sha256(source.encode()).hexdigest()[:12]


def render_prompt(name: str, variables: dict[str, Any]) -> RenderedPrompt:
    """Render `prompts/<name>.j2` with `variables` into a system and a user part."""
    _source, version = template_source(name)
    environment = _environment(_prompt_dir())
    try:
        template = environment.get_template(f"{name}.j2")
        if "system" in template.blocks or "user" in template.blocks:
            context = template.new_context(dict(variables))
            system = (
                "".join(template.blocks["system"](context)) if "system" in template.blocks else ""
            )
            user = "".join(template.blocks["user"](context)) if "user" in template.blocks else ""
        else:
            system, user = "", template.render(**variables)
    except jinja2.TemplateError as exc:
        raise ConfigError(f"Prompt template {name!r} failed to render: {exc}") from exc
    return RenderedPrompt(name=name, version=version, system=system, user=user)


def render_text(name: str, variables: dict[str, Any]) -> tuple[str, str]:
    """A template rendered as one text (for system prompts), with its version hash."""
    prompt = render_prompt(name, variables)
    text = "\n\n".join(part.strip() for part in (prompt.system, prompt.user) if part.strip())
    return text, prompt.version
