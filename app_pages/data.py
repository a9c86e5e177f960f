"""Data: which organization is open, opening another, generating one, and its validation."""

from __future__ import annotations

from pathlib import Path

import streamlit as st

import metrics
from ui import data, state
from ui.charts import day_range

PATH_KEY = "dataset_path"
FLASH_KEY = "_data_flash"
LOCALES = ["en_US", "en_GB", "cs_CZ", "de_DE", "fr_FR", "es_ES", "it_IT", "pl_PL", "ja_JP"]
TIMEZONES = [
    "Europe/Prague",
    "UTC",
    "Europe/London",
    "Europe/Berlin",
    "America/New_York",
    "America/Los_Angeles",
    "Asia/Tokyo",
    "Asia/Kolkata",
    "Australia/Sydney",
]
SIZES = {"small": "Small · 50 users", "demo": "Demo · 400 users", "large": "Large · 10,000 users"}

ctx = state.context()
st.title("Data")

flash = st.session_state.pop(FLASH_KEY, None)
if flash:
    st.success(flash, icon=":material/check_circle:")


def show_issues(issues) -> None:
    for issue in issues:
        st.error(str(issue), icon=":material/error:")


def switch_to(path: str) -> bool:
    """Opens a dataset; only a dataset that opened replaces the one in use."""
    try:
        with st.spinner(f"Opening {path}…"):
            ds = data.open_dataset(path)
    except metrics.DatasetError as exc:
        st.error(
            f"{path} was not opened: it breaks {len(exc.issues)} rule"
            f"{'s' if len(exc.issues) != 1 else ''} of the data format. "
            "The dataset in use stays open.",
            icon=":material/block:",
        )
        show_issues(exc.issues)
        return False
    st.session_state[PATH_KEY] = str(ds.path)
    st.session_state[FLASH_KEY] = f"Opened {ds.name} from {ds.path}."
    return True


with st.container(border=True):
    st.subheader("Current dataset", anchor=False)
    ds = ctx.dataset
    if ctx.issues:
        st.error(
            f"{ctx.path} can no longer be opened"
            + (f"; still showing {ds.path}." if ds is not None else "."),
            icon=":material/block:",
        )
        show_issues(ctx.issues)
    if ds is None:
        st.info("No dataset is open.")
    else:
        cols = st.columns(4)
        cols[0].metric("Organization", ds.name)
        cols[1].metric("Users", f"{len(ds.users):,}")
        cols[2].metric("Licenses", f"{len(ds.licenses):,}")
        cols[3].metric("Teams", f"{len(ds.teams):,}")
        span = day_range(ds.first_day, ds.last_day) if ds.first_day else "no counted requests"
        st.markdown(
            f"Path `{ds.path}`  \nTimezone **{ds.timezone}** · counted requests **{span}** · "
            f"fingerprint `{ds.fingerprint}`"
        )

with st.container(border=True):
    st.subheader("Open another dataset", anchor=False)
    st.caption(
        "A directory with users.parquet, licenses.parquet, requests.parquet or requests/, "
        "and optionally topup_limits.parquet and organization.json."
    )
    with st.form("open_form", border=False):
        raw = st.text_input("Dataset directory", placeholder="/path/to/dataset", key="open_path")
        submitted = st.form_submit_button("Open dataset", icon=":material/folder_open:")
    if submitted and raw.strip() and switch_to(raw.strip()):
        st.rerun()

with st.container(border=True):
    st.subheader("Generate a synthetic organization", anchor=False)
    with st.form("generate_form", border=False):
        c1, c2, c3 = st.columns(3)
        size = c1.selectbox("Size", list(SIZES), format_func=SIZES.get, key="gen_size")
        months = c2.number_input("Months", 1, 120, 12, key="gen_months")
        seed = c3.number_input("Seed", 0, 2**31 - 1, 7, key="gen_seed")
        c4, c5, c6 = st.columns(3)
        locale = c4.selectbox("Locale", LOCALES, key="gen_locale")
        timezone = c5.selectbox("Timezone", TIMEZONES, key="gen_tz", accept_new_options=True)
        out = c6.text_input(
            "Output directory",
            placeholder=str(data.demo_dir().parent / "<size>-<seed>"),
            key="gen_out",
        )
        replace = st.checkbox("Replace the directory if it holds files", key="gen_force")
        generate = st.form_submit_button("Generate and open", icon=":material/auto_awesome:")
    if generate:
        import fixtures

        target = Path(out.strip() or data.demo_dir().parent / f"{size}-{seed}").expanduser()
        bar = st.progress(0.0, text="Starting")

        def progress(done: int, total: int, label: str) -> None:
            bar.progress(min(done / max(total, 1), 1.0), text=f"Generating: {label}")

        try:
            config = fixtures.GeneratorConfig.preset(
                size, months=int(months), seed=int(seed), locale=locale, timezone=timezone
            )
            summary = fixtures.generate(target, config, progress, force=replace)
        except (fixtures.ConfigError, OSError) as exc:
            bar.empty()
            st.error(str(exc), icon=":material/error:")
        else:
            bar.progress(
                1.0, text=f"Generated {summary.requests:,} requests in {summary.seconds:.1f} s"
            )
            if switch_to(str(summary.out_dir)):
                st.session_state[FLASH_KEY] = (
                    f"Generated {summary.organization}: {summary.users:,} users, "
                    f"{summary.requests:,} requests, {day_range(summary.start, summary.end)}; "
                    f"opened from {summary.out_dir}."
                )
                st.rerun()

with st.container(border=True):
    st.subheader("Validation report", anchor=False)
    target = st.text_input(
        "Dataset to check",
        value=str(ctx.dataset.path) if ctx.dataset else (ctx.path or ""),
        key="validate_path",
    )
    if target.strip():
        with st.spinner("Checking every rule of the data format…"):
            issues = data.validate(target.strip())
        if issues:
            st.error(f"{len(issues)} problem{'s' if len(issues) != 1 else ''} found in {target}.")
            show_issues(issues)
        else:
            st.success(
                f"{target} follows every rule of the data format.", icon=":material/verified:"
            )
