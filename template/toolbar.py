"""A django-debug-toolbar panel: which of this app's receivers ran during the request,
in the order they started, with their durations and outcomes (observe.fired()).

Rendered by django-signal-template and rendered again by ``copier update``: don't edit.
Imported only when listed in ``DEBUG_TOOLBAR_PANELS`` (see README.md).
"""

from dataclasses import asdict

from debug_toolbar.panels import Panel  # type: ignore[import-untyped,import-not-found,unused-ignore]
from django.http import HttpRequest, HttpResponse
from django.utils.html import format_html, format_html_join

from . import observe


class SignalsPanel(Panel):  # type: ignore[misc,unused-ignore]
    title = f"Receivers of {__package__}"

    @property
    def nav_subtitle(self) -> str:
        runs = self.get_stats().get("runs", [])
        return f"{len(runs)} runs, {sum(run['duration_ms'] for run in runs):.1f} ms"

    def process_request(self, request: HttpRequest) -> HttpResponse:
        with observe.fired() as runs:
            response: HttpResponse = super().process_request(request)
        self.record_stats({"runs": [asdict(run) for run in runs]})
        return response

    @property
    def content(self) -> str:
        rows = format_html_join(
            "",
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{} ms</td><td>{}</td></tr>",
            (
                (
                    run["handler"],
                    run["signal"].rsplit(".", 1)[-1],
                    run["sender"],
                    f"{run['duration_ms']:.1f}",
                    run["outcome"],
                )
                for run in self.get_stats().get("runs", [])
            ),
        )
        return str(
            format_html(
                "<table><thead><tr><th>Handler</th><th>Signal</th><th>Sender</th>"
                "<th>Duration</th><th>Outcome</th></tr></thead><tbody>{}</tbody></table>",
                rows,
            )
        )
