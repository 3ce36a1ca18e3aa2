// Schedules and crons: jobs in every state, live; cancel a pending one; cron definitions.
import { h, live, toJson, when } from "../util.js";

const STATES = ["all", "pending", "inProgress", "success", "failed", "canceled"];

export function render({ client, main }) {
  const filter = h("select", { id: "job-state", "aria-label": "Job state" }, STATES.map((s) => h("option", { value: s }, s)));
  const jobs = h("tbody", { id: "jobs" });
  const crons = h("tbody", { id: "crons" });
  let latest = { jobs: [], crons: [] };
  main.append(
    h("h2", {}, "Scheduled jobs"), h("div", { class: "toolbar" }, h("label", {}, "State ", filter)),
    h("div", { class: "scroll" }, h("table", {}, h("thead", {}, h("tr", {},
      ["function", "state", "scheduled for", "completed", "args", ""].map((c) => h("th", { scope: "col" }, c)))), jobs)),
    h("h2", { style: "margin-top:16px" }, "Crons"),
    h("table", {}, h("thead", {}, h("tr", {}, ["name", "schedule", "function", "next run", "last run"].map((c) => h("th", { scope: "col" }, c)))), crons));
  filter.addEventListener("change", () => show(latest));
  const stop = live(client, "_system/dashboard:schedules", {}, show);

  function show(value) {
    latest = value;
    const wanted = filter.value;
    jobs.replaceChildren(...value.jobs.filter((j) => wanted === "all" || j.state.kind === wanted).map((job) =>
      h("tr", { "data-id": job._id },
        h("td", { class: "mono" }, job.name),
        h("td", {}, h("span", { class: `badge ${job.state.kind}` }, job.state.kind), job.state.error ? ` ${job.state.error}` : ""),
        h("td", {}, when(job.scheduledTime)), h("td", {}, when(job.completedTime)),
        h("td", { class: "mono" }, toJson(job.args[0] ?? {})),
        h("td", {}, job.state.kind === "pending"
          ? h("button", { type: "button", class: "danger cancel-job", onclick: () => cancel(job) }, "Cancel") : ""))));
    crons.replaceChildren(...value.crons.map((c) => h("tr", {},
      h("td", {}, c.name), h("td", { class: "mono" }, c.schedule), h("td", { class: "mono" }, c.functionPath),
      h("td", {}, when(c.nextRunTime)), h("td", {}, when(c.lastRunTime)))));
  }

  async function cancel(job) {
    if (!confirm(`Cancel the pending job ${job.name} (${job._id})?`)) return;
    await client.mutation("_system/dashboard:cancelJob", { id: job._id });
  }
  return stop;
}
