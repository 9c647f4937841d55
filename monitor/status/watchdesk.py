"""The console's edits of the rules directory: a watch's YAML read, tested, backtested and
saved; its mode switched; a watch proposed from a stored article (feeds.yaml's edits:
`monitor.status.feeddesk`).

A save is a text splice (`monitor.matching.editing`): only the watch's lines change. The whole
rule set is checked with the changed text in its file's place, as `monitor check` checks it, and
only a rule set without problems is written (atomically: the running monitor's reloader sees the
old file or the new one). A save names the `version` of the file its text was read from (the
`source` answer's); a file changed since is refused with 409, never overwritten.
"""

from __future__ import annotations

import asyncio
import dataclasses
import os
import re
import subprocess
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

import structlog

from monitor.bus.base import ARTICLES
from monitor.bus.history import stored_records
from monitor.bus.settings import BusPlace
from monitor.feeds.request import env_problems
from monitor.feeds.trialpage import PageUnread
from monitor.feeds.writing import FileIsLink, refuse_link, replace_text, version_of
from monitor.kernel.console import ActionRefused, Answer, Trial, Who
from monitor.kernel.errors import BusError, Problem, StorageError
from monitor.kernel.models import Article, make_article
from monitor.kernel.records import BadRecord
from monitor.matching import editing, propose, trial
from monitor.matching.loader import FEEDS_FILE, read_rules_dir
from monitor.matching.spec import RuleSet
from monitor.status.backtesting import backtest as run_backtest
from monitor.stories.settings import StoriesConfig

log = structlog.get_logger("monitor.console")

_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,199}$")
MAX_DAYS = 90
MAX_TRIAL_ARTICLES = 50


def _known_id(value: str, what: str) -> str:
    if not _ID.match(value):  # `../x`, slashes, NUL: never an id, never a path
        raise ActionRefused(404, f"no {what} {value[:80]!r}")
    return value


NEW_WATCHES = "console.yaml"  # where a watch made in the console goes
NEW_WATCHES_HEAD = (
    "# Watches made in the console (monitor's status page); edit them as any rule file.\n"
)


@dataclass(frozen=True, slots=True)
class _Located:
    path: Path
    text: str
    span: editing.Span


class RulesFiles:
    """Checked, atomic writes of the rules directory's files, one at a time."""

    def __init__(
        self,
        rules_dir: Path,
        *,
        environ: Mapping[str, str] | None = None,
        extra_checks: Callable[[RuleSet], list[Problem]] = lambda _: [],
        git_commit: bool = False,
    ) -> None:
        self.rules_dir = rules_dir
        self.environ = os.environ if environ is None else environ
        self.extra_checks = extra_checks
        self.git_commit = git_commit
        self.lock = asyncio.Lock()

    def locate(self, key: str, item_id: str, what: str) -> _Located:
        """The file holding item `item_id` of the list `key` (`rules`, `feeds`) and its span."""
        _known_id(item_id, what)
        rule_set, _ = read_rules_dir(self.rules_dir)
        root = self.rules_dir.resolve()
        if key == "rules":
            paths = [r.path for r in (*rule_set.rules, *rule_set.drafts) if r.id == item_id]
        else:
            paths = [f.path for f in rule_set.feeds if f.id == item_id]
            if not paths and (self.rules_dir / FEEDS_FILE).is_file():
                paths = [str(self.rules_dir / FEEDS_FILE)]
        for name in paths:
            path = Path(name)
            if path.parent.resolve() != root:  # a link in it is found (and refused by `write`)
                continue
            text = path.read_text(encoding="utf-8")
            try:
                span = editing.item_spans(text, key).get(item_id)
            except editing.EditError as exc:
                raise ActionRefused(409, f"{path.name}: {exc}") from exc
            if span is not None:
                return _Located(path, text, span)
        raise ActionRefused(404, f"no {what} {item_id!r} in {self.rules_dir}")

    def problems(self, path: Path, text: str) -> list[Problem]:
        """Every problem of the rule set with `text` in `path`'s place (`monitor check`'s)."""
        rule_set, found = read_rules_dir(self.rules_dir, texts={path: text})
        found += env_problems(rule_set.feeds, self.environ, None)
        found += self.extra_checks(rule_set)  # every problem in one answer, as check says them
        return sorted(found, key=Problem.sort_key)

    def write(self, at: _Located, text: str, shown: Callable[[Problem], str], message: str) -> str:
        """Check and write `text` over `at`'s file; the git outcome ("" when not asked).
        Raise 422 (problems, nothing written) or 409 (the file changed since it was read)."""
        return self.write_file(at.path, at.text, text, shown, message)

    def write_file(
        self, path: Path, read: str, text: str, shown: Callable[[Problem], str], message: str
    ) -> str:
        """Check and write `text` over `path`, read as `read`; see `write`. A file that is a
        symbolic link is never written (409): it is edited where it is kept."""
        try:
            refuse_link(path)
        except FileIsLink as exc:
            raise ActionRefused(409, exc.strerror or str(exc)) from exc
        found = self.problems(path, text)
        if found:
            raise ActionRefused(
                422,
                f"{path.name} left as it was: {len(found)} problem(s)",
                [shown(p) for p in found],
            )
        if path.read_text(encoding="utf-8") != read:
            raise ActionRefused(409, f"{path.name} changed since it was read: read it again")
        replace_text(path, text)
        return self._commit(path, message) if self.git_commit else ""

    def _commit(self, path: Path, message: str) -> str:
        """Commit `path` alone; "committed", or what went wrong (never raised)."""
        env = {**os.environ}
        for kind in ("AUTHOR", "COMMITTER"):
            env.setdefault(f"GIT_{kind}_NAME", "monitor console")
            env.setdefault(f"GIT_{kind}_EMAIL", "monitor@localhost")
        base = ["git", "-C", str(path.parent)]
        try:
            inside = subprocess.run(  # noqa: S603 - fixed arguments, no shell
                [*base, "rev-parse", "--is-inside-work-tree"],
                capture_output=True,
                text=True,
                timeout=20,
                env=env,
                check=False,
            )
            if inside.returncode != 0:
                return "not committed: the rules directory is not in a git work tree"
            subprocess.run(  # noqa: S603
                [*base, "add", "--", path.name],
                capture_output=True,
                timeout=20,
                env=env,
                check=True,
            )
            done = subprocess.run(  # noqa: S603
                [*base, "commit", "-m", message, "--", path.name],
                capture_output=True,
                text=True,
                timeout=20,
                env=env,
                check=False,
            )
        except (OSError, subprocess.SubprocessError) as exc:
            return f"not committed: {exc}"
        if done.returncode != 0:
            return f"not committed: {(done.stderr or done.stdout).strip()[:300]}"
        return "committed"


class WatchDesk:
    """`WatchActions` on a rules directory and the bus's stored articles."""

    def __init__(
        self,
        files: RulesFiles,
        place: BusPlace,
        stories: StoriesConfig,
        *,
        fetch_page: Callable[[str], Awaitable[tuple[str, str]]] | None = None,
    ) -> None:
        self.files = files
        self.place = place
        self.stories = stories
        self.fetch_page = fetch_page  # async url -> (title, text): `monitor.feeds.trialpage`

    def source(self, rule_id: str) -> Answer:
        """`{"id", "file", "line", "mode", "yaml", "version"}` of a watch (404)."""
        at = self.files.locate("rules", rule_id, "watch")
        item = editing.dedent(at.text, at.span)
        mode = "shadow" if re.search(r"(?m)^mode:\s*shadow\b", item) else "live"
        return {
            "id": rule_id,
            "file": at.path.name,
            "line": at.span.line,
            "mode": mode,
            "yaml": item,
            "version": version_of(at.text),
        }

    async def save(
        self,
        rule_id: str,
        yaml_text: str,
        who: Who,
        *,
        version: str | None = None,
        create: bool = False,
    ) -> Answer:
        """Replace the watch if the rule set still checks: `{"id", "file", "line", "committed",
        "git"}`; 422 with the problems at their lines, 409 when the file changed since
        `version` was read."""
        async with self.files.lock:
            return await asyncio.to_thread(self._save, rule_id, yaml_text, who, version, create)

    def _save(self, rule_id: str, item: str, who: Who, version: str | None, create: bool) -> Answer:
        _known_id(rule_id, "watch")  # an id no watch can have is 404, never a new watch
        try:
            at = self.files.locate("rules", rule_id, "watch")
        except ActionRefused as exc:
            if exc.status != 404 or not create:
                if exc.status == 404:
                    exc.message += ' (to add it as a new watch, send "new": true)'
                raise
            return self._create(rule_id, item.replace("\r\n", "\n"), who)
        if create:
            raise ActionRefused(409, f"a watch {rule_id!r} exists already ({at.path.name})")
        if version is not None and version != version_of(at.text):
            raise ActionRefused(409, f"{at.path.name} changed since it was read: read it again")
        item = item.replace("\r\n", "\n")
        wrong = editing.check_item(item, rule_id, "watch")
        if wrong:
            raise ActionRefused(422, "the watch was not saved", [_watch_line(p) for p in wrong])
        text = editing.splice(at.text, at.span, item)
        first = at.span.first + (2 if at.span.head.endswith("\n") else 1)
        last = first + len(item.splitlines())

        def shown(p: Problem) -> str:
            if Path(p.path) == at.path and first <= p.line < last:
                return (
                    f"{at.path.name}:{p.line}: {p.message} (line {p.line - first + 1} of the watch)"
                )
            return str(p)

        git = self.files.write(at, text, shown, f"monitor console: edit watch {rule_id}")
        log.info("watch_saved", watch=rule_id, file=at.path.name, who=who.to_dict())
        return {
            "id": rule_id,
            "file": at.path.name,
            "line": at.span.line,
            "committed": git == "committed",
            "git": git,
        }

    def _create(self, rule_id: str, item: str, who: Who) -> Answer:
        """A watch not in the rules yet ("make a watch like this"): added at the end of
        NEW_WATCHES in the rules directory, checked as a save is."""
        wrong = editing.check_item(item, rule_id, "watch")
        if wrong:
            raise ActionRefused(422, "the watch was not saved", [_watch_line(p) for p in wrong])
        path = self.files.rules_dir / NEW_WATCHES
        if path.is_symlink():  # a dangling link too: nothing is written through a link
            raise ActionRefused(409, f"{NEW_WATCHES} is a link: make it a file to add watches")
        read = path.read_text(encoding="utf-8") if path.is_file() else ""
        try:
            text = editing.append_item(read or NEW_WATCHES_HEAD, "rules", item)
        except editing.EditError as exc:
            raise ActionRefused(409, f"{NEW_WATCHES}: {exc}") from exc
        first = text.count("\n", 0, text.rindex(item.splitlines()[0])) + 1
        last = first + len(item.splitlines())

        def shown(p: Problem) -> str:
            if Path(p.path).name == NEW_WATCHES and first <= p.line < last:
                return (
                    f"{NEW_WATCHES}:{p.line}: {p.message} (line {p.line - first + 1} of the watch)"
                )
            return str(p)

        if not path.is_file():
            # O_EXCL|O_NOFOLLOW: a file or link put there meanwhile is never written through
            os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644))
            try:
                git = self.files.write_file(
                    path, "", text, shown, f"monitor console: new watch {rule_id}"
                )
            except ActionRefused:
                path.unlink(missing_ok=True)  # nothing written: not even an empty file
                raise
        else:
            git = self.files.write_file(
                path, read, text, shown, f"monitor console: new watch {rule_id}"
            )
        log.info("watch_created", watch=rule_id, file=NEW_WATCHES, who=who.to_dict())
        return {
            "id": rule_id,
            "file": NEW_WATCHES,
            "line": first,
            "committed": git == "committed",
            "git": git,
            "created": True,
        }

    async def set_mode(self, rule_id: str, mode: str, who: Who) -> Answer:
        """Switch the watch to "shadow" or "live": `{"id", "mode", "file"}`."""
        if mode not in ("shadow", "live"):
            raise ActionRefused(422, f"mode must be shadow or live, not {mode[:40]!r}")
        async with self.files.lock:
            at = await asyncio.to_thread(self.files.locate, "rules", rule_id, "watch")
            if mode == "live":  # the default: the line a switch to shadow added goes
                text = editing.default_key(at.text, at.span, "mode", "live")
            else:
                text = editing.set_key(at.text, at.span, "mode", mode)
            await asyncio.to_thread(
                self.files.write, at, text, str, f"monitor console: watch {rule_id} {mode}"
            )
        log.info("watch_mode_set", watch=rule_id, mode=mode, who=who.to_dict())
        return {"id": rule_id, "mode": mode, "file": at.path.name}

    def _rule_set(self, rule_id: str, item: str | None) -> tuple[RuleSet, str]:
        rule_set, _ = read_rules_dir(self.files.rules_dir)
        if item is None:
            self.files.locate("rules", rule_id, "watch")
            return rule_set, rule_id
        alone, problems = trial.watch_rule_set(item.replace("\r\n", "\n"), rule_set, "watch")
        if problems:
            raise ActionRefused(422, "the watch does not check", [_watch_line(p) for p in problems])
        return alone, alone.rules[0].id if alone.rules else rule_id

    async def test(self, rule_id: str, trial_: Trial) -> Answer:
        """Match the watch (or `trial_.yaml`) on the trial's articles (see `WatchActions`)."""
        rule_set, rid = await asyncio.to_thread(self._rule_set, rule_id, trial_.yaml)
        compiled = trial.compiled_alone(rule_set, rid)
        articles: list[Article] = []
        if trial_.title or trial_.text:
            articles.append(make_article(id="pasted", title=trial_.title, content=trial_.text))
        if trial_.url:
            articles.append(await self._fetched(trial_.url))
        if trial_.article_ids:
            wanted = set(trial_.article_ids[:MAX_TRIAL_ARTICLES])
            found = {a.id: a for a in await self._stored_articles(30) if a.id in wanted}
            missing = sorted(wanted - found.keys())
            if missing:
                raise ActionRefused(404, f"no stored article {missing[0]!r}")
            articles += [found[i] for i in trial_.article_ids if i in found]
        if not articles:
            raise ActionRefused(422, "nothing to test: give a title and text, a URL or articles")
        return {"results": [trial.tried(a, compiled) for a in articles]}

    async def _fetched(self, url: str) -> Article:
        if self.fetch_page is None:
            raise ActionRefused(503, "this process cannot fetch pages")
        try:
            title, text = await self.fetch_page(url)
        except PageUnread as exc:
            raise ActionRefused(422, f"the page was not read: {exc}") from exc
        return make_article(id=url, url=url, title=str(title), content=str(text))

    async def _stored_articles(self, days: int) -> list[Article]:
        try:
            records = await stored_records(self.place, ARTICLES, days * 86_400)
        except (BusError, StorageError) as exc:
            raise ActionRefused(503, f"the stored articles cannot be read: {exc}") from exc
        found: dict[str, Article] = {}
        for record in records:
            try:
                article = Article.from_bytes(record.value)
            except BadRecord:
                continue
            found[article.id] = article
        return list(found.values())

    async def backtest(self, rule_id: str, yaml_text: str | None, days: int) -> Answer:
        """The watch over the stored articles of the last `days` (see `WatchActions`)."""
        days = max(1, min(int(days), MAX_DAYS))
        rule_set, rid = await asyncio.to_thread(self._rule_set, rule_id, yaml_text)
        alone = dataclasses.replace(
            rule_set,
            rules=tuple(
                dataclasses.replace(r, enabled=True) for r in rule_set.rules if r.id == rid
            ),
            drafts=(),
        )
        try:
            found = await run_backtest(
                self.place, self.stories, alone, since_s=days * 86_400, rule_ids=[rid]
            )
        except (BusError, StorageError) as exc:
            raise ActionRefused(503, f"the stored articles cannot be read: {exc}") from exc
        groups = found.grouped()
        alert_at = {idx[0] for idx in groups.values()}
        per: dict[str, list[int]] = {}
        for n, (_, _, ts) in enumerate(found.matches):
            day = time.strftime("%Y-%m-%d", time.gmtime(ts / 1000))
            counts = per.setdefault(day, [0, 0])
            counts[0] += 1
            counts[1] += n in alert_at
        alerts = []
        for n in sorted(alert_at):
            _, article, ts = found.matches[n]
            alerts.append(
                {
                    "title": article.title,
                    "url": article.url,
                    "feed": article.feed,
                    "published_ms": int(article.published.timestamp() * 1000)
                    if article.published
                    else ts,
                }
            )
        return {
            "days": [{"day": d, "matches": c[0], "alerts": c[1]} for d, c in sorted(per.items())],
            "alerts": alerts,
            "articles": found.articles,
        }

    async def stored(self, limit: int) -> list[Answer]:
        """The newest stored articles: `[{"id", "title", "feed", "url"}]`."""
        articles = await self._stored_articles(7)
        newest = articles[::-1][: max(0, min(limit, 500))]
        return [{"id": a.id, "title": a.title, "feed": a.feed, "url": a.url} for a in newest]

    async def propose(self, article_id: str) -> Answer:
        """A new watch like a stored article: `{"yaml", "terms", "entities"}` (404)."""
        articles = await self._stored_articles(30)
        article = next((a for a in articles if a.id == article_id), None)
        if article is None:
            raise ActionRefused(404, f"no stored article {article_id[:120]!r}")
        return await asyncio.to_thread(self._propose, article, articles)

    def _propose(self, article: Article, articles: list[Article]) -> Answer:
        rule_set, _ = read_rules_dir(self.files.rules_dir)
        entities = _entities_in(article, rule_set)
        terms = propose.rarest(article, articles)
        taken = {r.id for r in (*rule_set.rules, *rule_set.drafts)}
        rid = propose.fresh_id(article.title, taken)
        text = propose.watch_yaml(rid, article.title, terms, entities)
        return {"id": rid, "yaml": text, "terms": terms, "entities": entities}


def _entities_in(article: Article, rule_set: RuleSet) -> list[str]:
    """The ids of the rule set's entities (the pack's and one's own) the article names."""
    if not rule_set.entities:
        return []
    ids = [e.id for e in rule_set.entities]
    item = "id: probe\nentities:\n  any: [" + ", ".join(f'"{i}"' for i in ids) + "]\n"
    alone, problems = trial.watch_rule_set(item, rule_set, "probe")
    if problems or not alone.rules:
        return []
    result = trial.tried(article, trial.compiled_alone(alone, "probe"))
    return sorted({e["value"] for e in result["evidence"] if e["kind"] == "entity"})


def _watch_line(p: Problem) -> str:
    return f"line {p.line} of the watch: {p.message}" if p.line > 0 else p.message
