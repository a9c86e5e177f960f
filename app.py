"""AI Adoption Console: the entrypoint that owns the dataset and the shared filters.

Filters live here, in the sidebar, because the entrypoint runs on every page: their values
survive page changes, and being bound to the URL they survive reloads and can be shared.
"""

from __future__ import annotations

import streamlit as st

st.set_page_config(
    page_title="AI Adoption Console",
    page_icon=":material/insights:",
    layout="wide",
    initial_sidebar_state="expanded",
)

import metrics  # noqa: E402
from ui import data, state  # noqa: E402
from ui.charts import day_range  # noqa: E402

PATH_KEY = "dataset_path"
LAST_GOOD_KEY = "_last_good_dataset"


def _first_path() -> str | None:
    """The dataset named by the environment, else the demo organization, generated if absent."""
    configured = data.configured_dataset()
    if configured is not None:
        return str(configured)
    demo = data.demo_dir()
    if data.looks_like_dataset(demo):
        return str(demo)
    with st.status("Creating a demo organization for the first start…", expanded=True) as status:
        bar = st.progress(0.0, text="Starting")

        def progress(done: int, total: int, label: str) -> None:
            bar.progress(min(done / max(total, 1), 1.0), text=f"Generating: {label}")

        try:
            data.ensure_demo(demo, progress)
        except (OSError, ValueError) as exc:
            status.update(label="Could not create the demo organization", state="error")
            st.error(f"{exc}. Set {data.ENV_DATASET} to an existing dataset or free {demo}.")
            return None
        status.update(
            label=f"Demo organization created in {demo}", state="complete", expanded=False
        )
    return str(demo)


def _open(ctx: state.Context) -> None:
    """Opens the session's dataset; if it broke since, the last good one stays in use."""
    path = st.session_state.get(PATH_KEY)
    if path is None:
        path = _first_path()
        if path is None:
            return
    ctx.path = path
    try:
        ds = data.open_dataset(path)
    except metrics.DatasetError as exc:
        ctx.issues = exc.issues
        ds = st.session_state.get(LAST_GOOD_KEY)
    else:
        st.session_state[PATH_KEY] = path
        st.session_state[LAST_GOOD_KEY] = ds
    ctx.dataset = ds


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
            help="Both days are included, in the organization's timezone.",
        )
    period = state.resolve_period(choice, today, ds.first_day, custom)
    gran_choice = st.segmented_control(
        "Granularity",
        state.GRANULARITY_OPTIONS,
        default=state.AUTO,
        key="gran",
        bind="query-params",
        required=True,
        help="Auto shows days up to 31 days, months up to 731 days, years beyond.",
    )
    granularity, auto = state.resolve_granularity(gran_choice, period)
    n = len(metrics.buckets(period, granularity))
    st.caption(
        f"{day_range(period.start, period.end)} · {period.days} days · "
        f"{n} {granularity.value}{'s' if n != 1 else ''}{' (auto)' if auto else ''}"
    )
    teams = st.multiselect(
        "Teams", ds.teams, key="team", bind="query-params", placeholder="All teams"
    )
    return state.Filters(period, choice, granularity, auto, tuple(teams))


def main() -> None:
    ctx = state.Context()
    _open(ctx)
    pages = st.navigation(
        [
            st.Page(
                "app_pages/adoption.py",
                title="AI adoption and usage",
                icon=":material/monitoring:",
                default=True,
            ),
            st.Page("app_pages/users.py", title="Users", icon=":material/group:", url_path="users"),
            st.Page("app_pages/data.py", title="Data", icon=":material/database:", url_path="data"),
        ]
    )
    with st.sidebar:
        if ctx.dataset is not None:
            ds = ctx.dataset
            ctx.today = data.today(ds)
            st.markdown(f"**{ds.name}**")
            st.caption(f"{len(ds.users):,} users · timezone {ds.timezone}")
            ctx.filters = _filters(ds, ctx.today)
    state.set_context(ctx)
    pages.run()


main()
