"""Data: which organization is open, opening another, generating one, and its validation."""

from __future__ import annotations

import streamlit as st

from ui import components, data, safety, state
from ui.charts import day_range

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


def switch_to(raw: str) -> bool:
    """Opens a dataset and puts it in the URL; only a dataset that opened replaces the one in
    use, and the validation report follows it."""
    try:
        with st.spinner(f"Opening {safety.md(raw)}…"):
            ds = data.open_dataset(raw)
    except data.CannotOpen as exc:
        st.error(f"{exc.message} The dataset in use stays open.", icon=":material/block:")
        components.show_issues(exc.issues)
        return False
    path = data.path_of(ds)
    state.set_url_value("dataset", None if path == data.default_dataset() else str(path))
    st.session_state["validate_path"] = str(path)
    st.session_state[FLASH_KEY] = f"Opened {safety.md(ds.name)} from {safety.md(path)}."
    return True


with st.container(border=True):
    st.subheader("Current dataset", anchor=False)
    ds = ctx.dataset
    if ctx.message:
        still = " The last good copy stays on screen." if ds is not None else ""
        st.error(
            f"The dataset in use can no longer be opened. {ctx.message}{still}",
            icon=":material/block:",
        )
        components.show_issues(ctx.issues)
    if ds is None:
        st.info("No dataset is open.")
    else:
        cols = st.columns([3, 1, 1, 1])
        cols[0].metric("Organization", safety.md(ds.name))
        cols[1].metric("Users", f"{len(ds.users):,}")
        cols[2].metric("Licenses", f"{len(ds.licenses):,}")
        cols[3].metric("Teams", f"{len(ds.teams):,}")
        span = day_range(ds.first_day, ds.last_day) if ds.first_day else "no counted requests"
        st.markdown(
            f"Folder {safety.md(data.path_of(ds))}  \nTimezone **{safety.md(ds.timezone)}** · "
            f"counted requests **{span}** · fingerprint {safety.md(ds.fingerprint)}"
        )

with st.container(border=True):
    st.subheader("Open another dataset", anchor=False)
    st.caption(
        "A folder with users.parquet, licenses.parquet, requests.parquet or requests/, and "
        f"optionally topup_limits.parquet and organization.json, inside "
        f"{safety.md(safety.roots_text())}."
    )
    with st.form("open_form", border=False):
        raw = st.text_input("Dataset folder", placeholder="/path/to/dataset", key="open_path")
        submitted = st.form_submit_button("Open dataset", icon=":material/folder_open:")
    if submitted and raw.strip() and switch_to(raw.strip()):
        st.rerun()

with st.container(border=True):
    st.subheader("Generate a synthetic organization", anchor=False)
    default_out = data.demo_dir().parent
    with st.form("generate_form", border=False):
        c1, c2, c3 = st.columns(3)
        size = c1.selectbox("Size", list(SIZES), format_func=SIZES.get, key="gen_size")
        months = c2.number_input("Months", 1, 120, 12, key="gen_months")
        seed = c3.number_input("Seed", 0, 2**31 - 1, 7, key="gen_seed")
        c4, c5, c6 = st.columns(3)
        locale = c4.selectbox("Locale", LOCALES, key="gen_locale")
        timezone = c5.selectbox("Timezone", TIMEZONES, key="gen_tz", accept_new_options=True)
        out = c6.text_input(
            "Output folder", placeholder=str(default_out / "<size>-<seed>"), key="gen_out"
        )
        replace = st.checkbox(
            "Replace a dataset generated here before",
            key="gen_replace",
            help="Only a folder this app generated can be replaced; a folder with other files "
            "is never touched.",
        )
        generate = st.form_submit_button("Generate and open", icon=":material/auto_awesome:")
    if generate:
        import fixtures

        try:
            target = data.generation_target(
                out.strip() or str(default_out / f"{size}-{seed}"), replace
            )
            config = fixtures.GeneratorConfig.preset(
                size, months=int(months), seed=int(seed), locale=locale, timezone=timezone
            )
        except (data.CannotGenerate, fixtures.ConfigError) as exc:
            st.error(safety.md(exc) if isinstance(exc, fixtures.ConfigError) else str(exc))
        else:
            bar = st.progress(0.0, text="Starting")

            def progress(done: int, total: int, label: str) -> None:
                bar.progress(min(done / max(total, 1), 1.0), text=f"Generating: {safety.md(label)}")

            try:
                summary = data.generate(target, config, progress, replace)
            except FileExistsError:
                bar.empty()
                st.error(
                    f"{safety.md(target)} was filled by something else meanwhile; nothing was "
                    "written. Choose an empty or new folder.",
                    icon=":material/error:",
                )
            except OSError as exc:
                bar.empty()
                st.error(
                    f"Could not write {safety.md(target)}: {safety.md(exc.strerror or exc)}.",
                    icon=":material/error:",
                )
            else:
                bar.progress(
                    1.0, text=f"Generated {summary.requests:,} requests in {summary.seconds:.1f} s"
                )
                if switch_to(str(summary.out_dir)):
                    st.session_state[FLASH_KEY] = (
                        f"Generated {safety.md(summary.organization)}: {summary.users:,} users, "
                        f"{summary.requests:,} requests, "
                        f"{day_range(summary.start, summary.end)}; "
                        f"opened from {safety.md(summary.out_dir)}."
                    )
                    st.rerun()

with st.container(border=True):
    st.subheader("Validation report", anchor=False)
    if "validate_path" not in st.session_state:
        st.session_state["validate_path"] = (
            str(data.path_of(ctx.dataset)) if ctx.dataset else (ctx.path or "")
        )
    target = st.text_input("Dataset to check", key="validate_path")
    if target.strip():
        try:
            with st.spinner("Checking every rule of the data format…"):
                issues = data.validate(target.strip())
        except data.CannotOpen as exc:
            st.error(exc.message, icon=":material/block:")
        else:
            where = safety.md(target.strip())
            if issues:
                st.error(f"{len(issues)} problem{'s' if len(issues) != 1 else ''} in {where}.")
                components.show_issues(issues)
            else:
                st.success(
                    f"{where} follows every rule of the data format.", icon=":material/verified:"
                )
