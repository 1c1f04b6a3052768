import { reactive } from "@odoo/owl";

import { browser } from "@web/core/browser/browser";
import { _t } from "@web/core/l10n/translation";
import { registry } from "@web/core/registry";

const SOUND_KEY = "whatsapp_attendance.queue_sound";

/**
 * The live WhatsApp queue of an attendant: the waiting services (oldest first), refreshed
 * whenever the server says the queue changed, and a notification (with an optional sound)
 * for every new waiting customer, like Live Chat's new visitor.
 */
export const whatsappQueueService = {
    dependencies: ["bus_service", "orm", "notification", "action", "mail.sound_effects"],
    start(env, { bus_service, orm, notification, action, "mail.sound_effects": soundEffects }) {
        const state = reactive({
            services: [],
            loaded: false,
            sound: browser.localStorage.getItem(SOUND_KEY) !== "off",
        });
        const listeners = new Set();
        /** serviceId -> closes its "new customer" notification, once somebody took it */
        const toasts = new Map();
        let loading = null;

        async function load() {
            loading ??= orm.silent
                .call("whatsapp.service", "whatsapp_queue", [])
                .then((services) => {
                    state.services = services;
                    state.loaded = true;
                    const waiting = new Set(services.map((service) => service.id));
                    for (const [id, close] of toasts) {
                        if (!waiting.has(id)) {
                            close();
                            toasts.delete(id);
                        }
                    }
                })
                .finally(() => (loading = null));
            return loading;
        }

        async function take(serviceId) {
            const result = await orm.call("whatsapp.service", "action_take", [[serviceId]]);
            await load();
            if (result) {
                await action.doAction(result);
            }
        }

        function toggleSound() {
            state.sound = !state.sound;
            browser.localStorage.setItem(SOUND_KEY, state.sound ? "on" : "off");
        }

        bus_service.subscribe("whatsapp.queue/changed", async (payload) => {
            const loaded = load();
            for (const listener of listeners) {
                listener(payload);
            }
            if (!payload.new?.length) {
                return;
            }
            // only the customers waiting in this attendant's queues (their teams' and the general
            // one) pop up: the server's queue, just reloaded, says which
            await loaded;
            let mine = new Set(state.services.map((service) => service.id));
            if (payload.new.some((service) => !mine.has(service.id))) {
                // the load awaited may have started before this change: ask once more
                await load();
                mine = new Set(state.services.map((service) => service.id));
            }
            for (const service of payload.new.filter((service) => mine.has(service.id))) {
                const close = notification.add(
                    _t("%(customer)s (%(number)s) is waiting in the queue.", {
                        customer: service.customer_name,
                        number: service.customer_number,
                    }),
                    {
                        title: _t("New WhatsApp customer"),
                        type: "info",
                        // a while (the queue in the sidebar keeps them all), and closed as soon as
                        // someone takes the customer (see load): many waiting customers must not
                        // pile up over the page
                        autocloseDelay: 15000,
                        onClose: () => toasts.delete(service.id),
                        buttons: [
                            {
                                name: _t("Take"),
                                primary: true,
                                onClick: () => {
                                    close();
                                    take(service.id);
                                },
                            },
                        ],
                    }
                );
                toasts.set(service.id, close);
                if (state.sound) {
                    soundEffects.play("new-message");
                }
            }
        });
        bus_service.start();

        return {
            state,
            load,
            take,
            toggleSound,
            /** Views that show services (the queue kanban, the list) refresh on every change. */
            onChange(listener) {
                listeners.add(listener);
                return () => listeners.delete(listener);
            },
        };
    },
};

registry.category("services").add("whatsapp_attendance.queue", whatsappQueueService);
