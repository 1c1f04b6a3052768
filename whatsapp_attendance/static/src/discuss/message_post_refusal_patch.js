import { Store } from "@mail/core/common/store_service";
import { Thread } from "@mail/core/common/thread_model";
import { convertBrToLineBreak } from "@mail/utils/common/format";

import { _t } from "@web/core/l10n/translation";
import { RPCError } from "@web/core/network/rpc";
import { patch } from "@web/core/utils/patch";

/**
 * A message refused by the server is not lost, and the refusal is not silent.
 *
 * In a channel, Odoo posts optimistically: the composer is cleared at once and a temporary
 * (pending) message is shown; when `/mail/message/post` fails, `Store.doMessagePost`
 * swallows the error and leaves the temporary message grey with a ⚠ "retry" button. That
 * fits a lost connection, but not a server that answered "no" (e.g. a WhatsApp service
 * channel whose service is attended by someone else, or finished: `_check_can_reply`
 * raises a `UserError`): retrying cannot help, the reason is never shown, and the typed
 * text is gone after a reload.
 *
 * So when the server answers a channel post with an error, the temporary message is
 * removed, the server's reason is shown, and what was typed (text, mentions, attachments)
 * goes back into the composer. A post that got no answer keeps Odoo's ⚠ retry.
 */

/** @type {WeakMap<RPCError, number>} refused post error -> id of its temporary message */
const refusedPosts = new WeakMap();

patch(Store.prototype, {
    async doMessagePost(params, tmpMessage) {
        if (!tmpMessage) {
            return super.doMessagePost(...arguments);
        }
        try {
            // without a temporary message, Odoo lets the error through instead of keeping it
            return await super.doMessagePost(params, undefined);
        } catch (error) {
            if (error instanceof RPCError) {
                // the server answered and refused the message: nothing to retry
                refusedPosts.set(error, tmpMessage.id);
                tmpMessage.thread?.messages.delete(tmpMessage);
                tmpMessage.delete();
                throw error;
            }
            // no answer from the server (connection lost...): Odoo's own ⚠ retry...
            tmpMessage.postFailRedo = () => {
                tmpMessage.postFailRedo = undefined;
                const thread = tmpMessage.thread;
                // ...whose refusal, once the server answers, gives the text back all the same
                const text = convertBrToLineBreak(tmpMessage.body);
                const attachments = (params.post_data.attachment_ids || [])
                    .map((id) => this.Attachment.get(id))
                    .filter(Boolean);
                thread.messages.delete(tmpMessage);
                thread.messages.add(tmpMessage);
                this.doMessagePost(params, tmpMessage).catch((refusal) => {
                    if (!refusedPosts.has(refusal)) {
                        throw refusal;
                    }
                    thread.giveBackRefusedPost(refusal, text, { attachments });
                });
            };
        }
    },
});

patch(Thread.prototype, {
    async post(body, postData = {}, extraData = {}) {
        const member = this.selfMember;
        const seen = member && {
            message: member.seen_message_id,
            separator: member.new_message_separator,
        };
        try {
            return await super.post(body, postData, extraData);
        } catch (error) {
            if (!refusedPosts.has(error)) {
                throw error;
            }
            const tmpId = refusedPosts.get(error);
            if (member?.exists() && seen) {
                // the temporary message was marked as seen; it never existed
                if (!member.seen_message_id || member.seen_message_id.id === tmpId) {
                    member.seen_message_id = seen.message;
                }
                if (member.new_message_separator === tmpId + 1) {
                    member.new_message_separator = seen.separator;
                }
            }
            this.giveBackRefusedPost(error, body, postData);
        }
    },
    /**
     * Show why the server refused a message, and put the message back into the composer,
     * before whatever was typed since.
     *
     * @param {RPCError} error the server's answer
     * @param {string} body the text as typed
     * @param {Object} postData as given to `post` (attachments, mentions)
     */
    giveBackRefusedPost(error, body, postData) {
        this.store.env.services.notification.add(error.data?.message || error.message, {
            title: _t("Message not sent"),
            type: "danger",
            autocloseDelay: 10000,
        });
        const composer = this.composer;
        if (!composer) {
            return;
        }
        composer.text = composer.text ? `${body}\n${composer.text}` : body;
        const attachments = (postData.attachments || []).filter(
            (attachment) => attachment.exists() && !composer.attachments.includes(attachment)
        );
        composer.attachments.unshift(...attachments);
        for (const partner of postData.mentionedPartners || []) {
            if (partner.exists?.() !== false) {
                composer.mentionedPartners.add(partner);
            }
        }
        for (const channel of postData.mentionedChannels || []) {
            if (channel.exists?.() !== false) {
                composer.mentionedChannels.add(channel);
            }
        }
        Object.assign(composer.selection, {
            start: body.length,
            end: body.length,
            direction: "none",
        });
        composer.forceCursorMove = true;
    },
});
