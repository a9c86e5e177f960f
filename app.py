"""AI Adoption Console: the entrypoint that owns the dataset and the shared filters.

Filters live here, in the sidebar, because the entrypoint runs on every page: their values
survive page changes, and being bound to the URL they survive reloads and can be shared. The
open dataset is part of the URL too (`dataset=`), so a link shows what its sender saw.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

st.set_page_config(
    page_title="AI Adoption Console",
    page_icon=str(Path(__file__).parent / "assets" / "icon.png"),
    layout="wide",
    initial_sidebar_state="expanded",
)

import altair as alt  # noqa: E402

import metrics  # noqa: E402
from ui import cost, data, safety, state  # noqa: E402
from ui.charts import day_range  # noqa: E402

# Altair checks every schema object as it is built, only to fail earlier than to_dict() would:
# the chart tests validate whole charts, and the app draws them unchecked (ui.components).
alt.utils.schemapi.disable_debug_mode()

LAST_GOOD_KEY = "_last_good_dataset"


def _option(name: str, default):
    """A Streamlit setting, or `default` on a Streamlit too old to know it."""
    try:
        return st.get_option(name)
    except RuntimeError:
        return default


def _refuse_foreign_host() -> None:
    """Against DNS rebinding: a page of another site that reaches this server under its own
    name gets a refusal, before any data is opened."""
    host = st.context.headers.get("Host")
    ports = {_option("server.port", 8501), _option("browser.serverPort", 8501)}
    if not safety.host_allowed(host, _option("server.allowedHosts", []), ports):
        st.text(
            "This console only answers under the names it serves (by default 127.0.0.1, "
            "localhost and [::1] on its own port). Open it through one of them."
        )
        st.stop()


def _generate_demo(demo: Path) -> bool:
    with st.status("Creating a demo organization for the first start…", expanded=True) as status:
        bar = st.progress(0.0, text="Starting")

        def progress(done: int, total: int, label: str) -> None:
            bar.progress(min(done / max(total, 1), 1.0), text=f"Generating: {safety.md(label)}")

        try:
            data.ensure_demo(demo, progress)
        except FileExistsError:
            status.update(label="Could not create the demo organization", state="error")
            st.error(
                f"{safety.md(demo)} already holds other files, and the app never writes over "
                f"them. Set {data.ENV_DATASET} to an existing dataset, or {data.ENV_DATA} to an "
                "empty or new folder."
            )
            return False
        except (OSError, ValueError) as exc:
            status.update(label="Could not create the demo organization", state="error")
            st.error(
                f"Could not write {safety.md(demo)}: {safety.md(exc)}. Set {data.ENV_DATASET} "
                "to an existing dataset instead."
            )
            return False
        status.update(
            label=f"Demo organization created in {safety.md(demo)}",
            state="complete",
            expanded=False,
        )
    return True


def _open(ctx: state.Context) -> None:
    """Opens the dataset of the URL, else the default one (generating the demo if needed).

    A dataset that broke while open keeps the last good one on screen, its errors on the Data
    page; a link to a dataset that does not open says so and shows the default instead.
    """
    last_good: metrics.Dataset | None = st.session_state.get(LAST_GOOD_KEY)
    raw = state.url_value("dataset")
    if raw is not None:
        try:
            ctx.dataset = data.open_dataset(raw)
        except data.CannotOpen as exc:
            if last_good is not None and str(data.path_of(last_good)) == str(data.allowed(raw)):
                ctx.path, ctx.issues, ctx.dataset = raw, exc.issues, last_good
                ctx.message = exc.message
                return
            st.warning(
                f"The dataset this link names could not be opened. {exc.message} "
                "Showing the default organization instead.",
                icon=":material/link_off:",
            )
            state.set_url_value("dataset", None)
        else:
            ctx.path = str(data.path_of(ctx.dataset))
            st.session_state[LAST_GOOD_KEY] = ctx.dataset
            return

    path = data.default_dataset()
    ctx.path = str(path)
    generated = data.configured_dataset() is not None or data.looks_like_dataset(path)
    if not generated and not _generate_demo(path):
        return
    try:
        ctx.dataset = data.open_dataset(path)
    except data.CannotOpen as exc:
        ctx.issues, ctx.message = exc.issues, exc.message
        same = last_good is not None and str(data.path_of(last_good)) == ctx.path
        ctx.dataset = last_good if same else None
    else:
        st.session_state[LAST_GOOD_KEY] = ctx.dataset


def _filters(ds: metrics.Dataset, today) -> state.Filters:
    choice = st.selectbox(
        "Period",
        state.PERIOD_OPTIONS,
        index=state.PERIOD_OPTIONS.index(state.DEFAULT_PERIOD),
        key="period",
        bind="query-params",
    )
    custom = None
    if choice == state.CUSTOM:
        custom = st.date_input(
            "Dates",
            value=state.default_custom(today),
            key="range",
            bind="query-params",
            format="YYYY-MM-DD",
            help="Both days are included, in the organization's timezone. The charts' weeks "
            "run Monday to Sunday; the calendar starts its weeks as your browser's language "
            "does.",
        )
    period = state.resolve_period(choice, today, ds.first_day, custom)
    st.caption(f"{day_range(period.start, period.end)} · {period.days:,} days")
    teams = st.multiselect(
        "Teams",
        state.team_options(ds),
        format_func=lambda t: state.team_label(t, ds.teams),
        key="team",
        bind="query-params",
        placeholder="All teams",
    )
    return state.Filters(period, choice, tuple(teams), _price())


def _price() -> cost.Price:
    """The price that turns AI Credits into an estimate of money: the setting, or what this
    view asks for (`price=` in the URL)."""
    configured, problem = cost.settings_or_default()
    per = st.number_input(
        f"Price per AI Credit ({configured.currency})",
        min_value=0.0,
        max_value=cost.MAX_PRICE,
        value=configured.per_credit,
        step=0.05,
        format="%.2f" if round(configured.per_credit, 2) == configured.per_credit else "%.4f",
        key="price",
        bind="query-params",
        help="Turns AI Credits into an estimate of money wherever credits are totalled: "
        f"the credit cards, Teams, Users, Planning and the CSV files. Set by "
        f"{cost.ENV_PRICE} and {cost.ENV_CURRENCY}; what your organization pays depends on "
        "its contract.",
    )
    if problem:
        st.warning(safety.md(problem), icon=":material/warning:")
    return cost.Price(float(per), configured.currency)


def main() -> None:
    _refuse_foreign_host()
    # Before anything slow, so the sidebar shows the pages' titles from the first moment.
    pages = st.navigation(
        [
            st.Page(
                "app_pages/adoption.py",
                title="AI adoption and usage",
                icon=":material/monitoring:",
                default=True,
            ),
            st.Page(
                "app_pages/teams.py", title="Teams", icon=":material/groups:", url_path="teams"
            ),
            st.Page("app_pages/users.py", title="Users", icon=":material/group:", url_path="users"),
            st.Page(
                "app_pages/planning.py",
                title="Planning",
                icon=":material/event_upcoming:",
                url_path="planning",
            ),
            st.Page("app_pages/data.py", title="Data", icon=":material/database:", url_path="data"),
        ]
    )
    ctx = state.Context()
    _open(ctx)
    with st.sidebar:
        if ctx.dataset is not None:
            ds = ctx.dataset
            ctx.today = data.today(ds)
            st.markdown(f"**{safety.md(ds.name)}**")
            st.caption(f"{len(ds.users):,} users · timezone {safety.md(ds.timezone)}")
            ctx.filters = _filters(ds, ctx.today)
    state.set_context(ctx)
    pages.run()


main()
