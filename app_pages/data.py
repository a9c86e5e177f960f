"""Data: which organization is open, opening another, generating one, and its validation."""

from __future__ import annotations

import streamlit as st
from faker.config import AVAILABLE_LOCALES

from ui import components, data, safety, state
from ui.charts import day_range

FLASH_KEY = "_data_flash"
LOCALES = sorted(AVAILABLE_LOCALES)
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
MAX_USERS = 200_000
TRAITS_KEY = "_generated_traits"
TOOL_GROUPS = components.TOOL_GROUP_LABELS

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
        figures = components.row(gap="large")
        figures.metric("Organization", safety.md(ds.name), width="content")
        figures.metric("Users", f"{len(ds.users):,}", width="content")
        figures.metric("Licenses", f"{len(ds.licenses):,}", width="content")
        figures.metric("Teams", f"{len(ds.teams):,}", width="content")
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
        users = c1.number_input(
            "Users",
            1,
            MAX_USERS,
            400,
            step=50,
            key="gen_users",
            help=f"Any number from 1 to {MAX_USERS:,}; 10,000 users over 12 months take "
            "about a minute and 7 million requests.",
        )
        months = c2.number_input("Months", 1, 120, 12, key="gen_months")
        end = c3.date_input(
            "Last day",
            value=None,
            key="gen_end",
            format="YYYY-MM-DD",
            help="The last generated day, in the organization's timezone; empty: today there",
        )
        c4, c5, c6 = st.columns(3)
        seed = c4.number_input(
            "Seed",
            0,
            2**31 - 1,
            7,
            key="gen_seed",
            help="The same settings and seed give the same organization",
        )
        locale = c5.selectbox(
            "Locale",
            LOCALES,
            index=LOCALES.index("en_US"),
            key="gen_locale",
            help="Names, company and email domain",
        )
        timezone = c6.selectbox("Timezone", TIMEZONES, key="gen_tz", accept_new_options=True)
        with st.expander("Traits: leave a field empty for the realistic default"):
            st.caption(
                "Shares from 0 to 1, delivered within 0.05 as the metrics measure them over the "
                "whole history (a small organization may not be able to show a share)."
            )
            t1, t2, t3 = st.columns(3)
            adoption = t1.number_input(
                "Adoption",
                0.0,
                1.0,
                None,
                0.05,
                key="gen_adoption",
                help="Share of users with at least one counted request (about 0.85)",
            )
            hit_share = t2.number_input(
                "Hit share",
                0.0,
                1.0,
                None,
                0.05,
                key="gen_hit_share",
                help="Share of those users who hit a limit at least once (about 0.2)",
            )
            teams = t3.number_input(
                "Teams",
                0,
                MAX_USERS,
                None,
                1,
                key="gen_teams",
                help="Exactly this many teams (12); 0: nobody has a team",
            )
            st.markdown(
                "**Tool mix**: shares of counted requests; fill one and the empty ones "
                "count as 0, so they must add up to 1"
            )
            mix_cols = st.columns(4)
            mix = {
                group: col.number_input(label, 0.0, 1.0, None, 0.05, key=f"gen_mix_{group}")
                for col, (group, label) in zip(mix_cols, TOOL_GROUPS.items(), strict=True)
            }
            t4, t5, t6, t7 = st.columns(4)
            multi = t4.number_input(
                "Two licenses",
                0.0,
                1.0,
                None,
                0.01,
                key="gen_multi",
                help="Share of licensed users holding two licenses (0.09)",
            )
            cycles = t5.number_input(
                "30-day cycles",
                0.0,
                1.0,
                None,
                0.05,
                key="gen_cycles",
                help="Share of licenses renewed every 30 days instead of monthly (0.15)",
            )
            topup = t6.number_input(
                "Top-up limit",
                0.0,
                1_000_000_000.0,
                None,
                5.0,
                key="gen_topup",
                help="The organization's default monthly top-up limit for the whole span "
                "(realistic: 0, later 10)",
            )
            raise_after = t7.number_input(
                "Raised after a hit",
                0.0,
                1.0,
                None,
                0.05,
                key="gen_raise",
                help="Share of hit users whose top-up limit an admin raises (0.3)",
            )
        out = st.text_input(
            "Output folder", placeholder=str(default_out / "org-<users>-<seed>"), key="gen_out"
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

        asked_mix = {g: v for g, v in mix.items() if v is not None}
        try:
            target = data.generation_target(
                out.strip() or str(default_out / f"org-{int(users)}-{int(seed)}"), replace
            )
            config = fixtures.GeneratorConfig.preset(
                "demo",
                users=int(users),
                months=int(months),
                end=end,
                seed=int(seed),
                locale=locale,
                timezone=timezone,
                adoption=adoption,
                hit_share=hit_share,
                tool_mix=asked_mix or None,
                teams=None if teams is None else int(teams),
                multi_license_share=multi,
                cycle_share=cycles,
                topup_limit=topup,
                raise_after_hit=raise_after,
            )
        except data.CannotGenerate as exc:
            st.error(str(exc), icon=":material/block:")
        except fixtures.ConfigError as exc:
            st.error(
                f"These settings cannot all hold at once: {safety.md(exc)}. Nothing was written.",
                icon=":material/block:",
            )
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
                st.session_state[TRAITS_KEY] = (
                    str(summary.out_dir),
                    config.settings(),
                    summary.traits or {},
                    fixtures.shortfalls(config, summary.traits or {}),
                )
                if switch_to(str(summary.out_dir)):
                    st.session_state[FLASH_KEY] = (
                        f"Generated {safety.md(summary.organization)}: {summary.users:,} users, "
                        f"{summary.requests:,} requests, "
                        f"{day_range(summary.start, summary.end)}; "
                        f"opened from {safety.md(summary.out_dir)}."
                    )
                    st.rerun()
    shown = st.session_state.get(TRAITS_KEY)
    if shown and ds is not None and shown[0] == str(data.path_of(ds)):
        where, settings, measured, missed = shown
        st.markdown(f"**Measured traits** of the dataset generated in {safety.md(where)}")
        st.dataframe(
            components.traits_table(settings, measured),
            placeholder=components.MISSING,
            hide_index=True,
            key="gen_traits",
            column_config={
                "trait": st.column_config.TextColumn("Trait"),
                "asked": st.column_config.TextColumn("Asked"),
                "measured": st.column_config.TextColumn("Measured"),
                "count": st.column_config.TextColumn("Counted"),
            },
        )
        for line in missed:
            st.warning(
                f"Too small to show that share: {safety.md(line)}. The dataset was written anyway.",
                icon=":material/warning:",
            )

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
