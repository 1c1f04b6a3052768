import { Component, onMounted, onWillStart, onWillUnmount, useRef, useState } from "@odoo/owl";

import { loadBundle } from "@web/core/assets";
import { _t } from "@web/core/l10n/translation";
import { registry } from "@web/core/registry";
import { useService } from "@web/core/utils/hooks";
import { debounce } from "@web/core/utils/timing";

const LIVE_DELAY = 1500; // ms: a burst of queue changes refreshes once
const CLOCK_DELAY = 60000; // ms: "waiting now" and the longest wait move on their own

/** Seconds as "42 s", "7 min", "1 h 05 min", "2 d 3 h". */
export function formatDuration(seconds) {
    if (seconds === null || seconds === undefined) {
        return "–";
    }
    seconds = Math.round(seconds);
    if (seconds < 60) {
        return _t("%s s", seconds);
    }
    const minutes = Math.floor(seconds / 60);
    if (minutes < 60) {
        return _t("%s min", minutes);
    }
    const hours = Math.floor(minutes / 60);
    if (hours < 48) {
        return _t("%(hours)s h %(minutes)s min", {
            hours,
            minutes: String(minutes % 60).padStart(2, "0"),
        });
    }
    return _t("%(days)s d %(hours)s h", { days: Math.floor(hours / 24), hours: hours % 24 });
}

/**
 * The WhatsApp dashboard of a supervisor: the figures of a period (today, this week, this
 * month, a custom range) in the company's timezone, from whatsapp.service.get_dashboard; every
 * figure opens the services behind it; refreshed live on every change of the queue.
 */
export class WhatsappDashboard extends Component {
    static template = "whatsapp_attendance.Dashboard";
    static props = ["*"];

    setup() {
        this.orm = useService("orm");
        this.action = useService("action");
        this.queue = useService("whatsapp_attendance.queue");
        this.perDayCanvas = useRef("perDay");
        this.perAttendantCanvas = useRef("perAttendant");
        this.charts = [];
        this.periods = [
            { key: "today", label: _t("Today") },
            { key: "week", label: _t("This Week") },
            { key: "month", label: _t("This Month") },
            { key: "custom", label: _t("Custom") },
        ];
        const saved = this.props.action?.context?.whatsapp_dashboard_period;
        this.state = useState({
            period: saved || "today",
            dateFrom: "",
            dateTo: "",
            data: null,
            error: null,
            loading: false,
        });
        this.formatDuration = formatDuration;
        this.liveRefresh = debounce(() => this.load(), LIVE_DELAY);
        onWillStart(async () => {
            await Promise.all([loadBundle("web.chartjs_lib"), this.load()]);
        });
        onMounted(() => {
            this.renderCharts();
            this.stopListening = this.queue.onChange(() => this.liveRefresh());
            this.clock = setInterval(() => this.load(), CLOCK_DELAY);
        });
        onWillUnmount(() => {
            this.stopListening?.();
            clearInterval(this.clock);
            this.liveRefresh.cancel?.();
            this.destroyCharts();
        });
    }

    async load() {
        const { period, dateFrom, dateTo } = this.state;
        if (period === "custom" && !(dateFrom && dateTo)) {
            return;
        }
        this.state.loading = true;
        try {
            const data = await this.orm.silent.call("whatsapp.service", "get_dashboard", [
                period,
                period === "custom" ? dateFrom : false,
                period === "custom" ? dateTo : false,
            ]);
            if (this.state.period !== period) {
                return; // another period was chosen meanwhile
            }
            this.state.data = data;
            this.state.error = null;
            if (period !== "custom") {
                this.state.dateFrom = data.date_from;
                this.state.dateTo = data.date_to;
            }
            if (this.perDayCanvas.el) {
                this.renderCharts();
            }
        } catch (error) {
            this.state.error = error.data?.message || error.message || String(error);
        } finally {
            this.state.loading = false;
        }
    }

    setPeriod(period) {
        this.state.period = period;
        this.load();
    }

    onDateChange(which, ev) {
        this.state[which] = ev.target.value;
        this.state.period = "custom";
        this.load();
    }

    get figures() {
        return this.state.data?.figures || {};
    }

    get seriesTitle() {
        const unit = this.state.data?.series.unit;
        return unit === "hour"
            ? _t("Services per hour")
            : unit === "month"
            ? _t("Services per month")
            : _t("Services per day");
    }

    /** The figures as cards, in two rows: volumes and times, then ratings, messages, endings. */
    get cardRows() {
        const f = this.figures;
        const duration = formatDuration;
        const share = (figure) => (figure.share === null ? "–" : `${figure.share} %`);
        const ratings = (count) => _t("%s ratings", count);
        return [
            [
                {
                    key: "finished",
                    title: _t("Finished in the period"),
                    value: f.finished.value,
                    sub: _t("closed in it"),
                    cls: "o_wa_main",
                },
                {
                    key: "open",
                    title: _t("Open in the period"),
                    value: f.open.value,
                    sub: _t("open at any moment of it"),
                    cls: "o_wa_main",
                },
                {
                    key: "waiting_now",
                    title: _t("Waiting now"),
                    value: f.waiting_now.value,
                    sub: f.in_menu_now.value ? _t("%s more in the menu", f.in_menu_now.value) : "",
                    cls: f.waiting_now.value ? "o_wa_alert" : "",
                },
                { key: "longest_wait", title: _t("Longest wait now"), value: duration(f.longest_wait.value) },
                {
                    key: "frt_median",
                    title: _t("First response (median)"),
                    value: duration(f.frt_median.value),
                    sub: _t("%s services answered", f.responded.value),
                },
                {
                    key: "frt_p90",
                    title: _t("First response (p90)"),
                    value: duration(f.frt_p90.value),
                    sub: _t("9 in 10 answered within"),
                },
                {
                    key: "handling_avg",
                    title: _t("Handling time (average)"),
                    value: duration(f.handling_avg.value),
                    sub: _t("median %s", duration(f.handling_median.value)),
                },
                {
                    key: "csat_avg",
                    title: _t("CSAT (average rating)"),
                    value: f.csat_avg.value === null ? "–" : `${f.csat_avg.value} / 5`,
                    sub: ratings(f.csat_count.value),
                },
            ],
            [
                { key: "csat_happy", title: _t("😊 Satisfied"), value: share(f.csat_happy), sub: ratings(f.csat_happy.value) },
                { key: "csat_neutral", title: _t("😐 Okay"), value: share(f.csat_neutral), sub: ratings(f.csat_neutral.value) },
                {
                    key: "csat_unhappy",
                    title: _t("😞 Dissatisfied"),
                    value: share(f.csat_unhappy),
                    sub: ratings(f.csat_unhappy.value),
                },
                { key: "messages_in", title: _t("Messages received"), value: f.messages_in.value },
                { key: "messages_out", title: _t("Messages sent"), value: f.messages_out.value },
                { key: "end_attendant", title: _t("Ended by an attendant"), value: f.end_attendant.value },
                { key: "end_customer", title: _t("Ended by the customer"), value: f.end_customer.value },
                { key: "end_timeout", title: _t("Ended by idle timeout"), value: f.end_timeout.value },
            ],
        ];
    }

    get periodLabel() {
        const data = this.state.data;
        if (!data) {
            return "";
        }
        return data.date_from === data.date_to ? data.date_from : `${data.date_from} → ${data.date_to}`;
    }

    /** Opens the services behind a figure. */
    openServices(title, domain) {
        return this.action.doAction({
            type: "ir.actions.act_window",
            name: title,
            res_model: "whatsapp.service",
            domain,
            views: [
                [false, "list"],
                [false, "kanban"],
                [false, "form"],
            ],
            context: { create: false },
        });
    }

    openFigure(key, title) {
        const figure = this.figures[key];
        if (figure) {
            return this.openServices(`${title} (${this.periodLabel})`, figure.domain);
        }
    }

    destroyCharts() {
        for (const chart of this.charts) {
            chart.destroy();
        }
        this.charts = [];
    }

    renderCharts() {
        this.destroyCharts();
        const data = this.state.data;
        if (!data || !window.Chart || !this.perDayCanvas.el) {
            return;
        }
        const series = data.series;
        const style = getComputedStyle(document.body);
        const green = style.getPropertyValue("--success") || "#28a745";
        const blue = style.getPropertyValue("--info") || "#17a2b8";
        const options = (onClick) => ({
            responsive: true,
            maintainAspectRatio: false,
            animation: false,
            scales: { y: { beginAtZero: true, ticks: { precision: 0 } } },
            plugins: { legend: { position: "bottom" } },
            onClick,
        });
        const unit = { hour: _t("hour"), day: _t("day"), month: _t("month") }[series.unit];
        this.charts.push(
            new window.Chart(this.perDayCanvas.el, {
                type: "bar",
                data: {
                    labels: series.labels,
                    datasets: [
                        { label: _t("Opened"), data: series.opened, backgroundColor: blue },
                        { label: _t("Finished"), data: series.finished, backgroundColor: green },
                    ],
                },
                options: options((ev, elements) => {
                    const element = elements[0];
                    if (!element) {
                        return;
                    }
                    const opened = element.datasetIndex === 0;
                    const domain = (opened ? series.opened_domains : series.finished_domains)[
                        element.index
                    ];
                    const label = opened ? _t("Opened") : _t("Finished");
                    this.openServices(`${label} (${series.labels[element.index]}, ${unit})`, domain);
                }),
            })
        );
        const attendants = data.attendants;
        this.charts.push(
            new window.Chart(this.perAttendantCanvas.el, {
                type: "bar",
                data: {
                    labels: attendants.map((a) => a.name),
                    datasets: [
                        {
                            label: _t("Open in the period"),
                            data: attendants.map((a) => a.open.value),
                            backgroundColor: blue,
                        },
                        {
                            label: _t("Finished in the period"),
                            data: attendants.map((a) => a.finished.value),
                            backgroundColor: green,
                        },
                    ],
                },
                options: {
                    ...options((ev, elements) => {
                        const element = elements[0];
                        if (!element) {
                            return;
                        }
                        const attendant = attendants[element.index];
                        const figure = element.datasetIndex === 0 ? attendant.open : attendant.finished;
                        const label =
                            element.datasetIndex === 0 ? _t("Open in the period") : _t("Finished in the period");
                        this.openServices(`${attendant.name}: ${label}`, figure.domain);
                    }),
                    indexAxis: "y",
                    scales: { x: { beginAtZero: true, ticks: { precision: 0 } } },
                },
            })
        );
    }
}

registry.category("actions").add("whatsapp_attendance.dashboard", WhatsappDashboard);
