"""18.0.1.1.0: WhatsApp conversations become their own Discuss channel type.

Service channels were group chats (they showed among *Direct messages*); they become channels of
type ``whatsapp`` (the WhatsApp section of the sidebar), and finished services leave the sidebar.
"""


def migrate(cr, version):
    cr.execute("""
        UPDATE discuss_channel
           SET channel_type = 'whatsapp'
         WHERE whatsapp_service_id IS NOT NULL
           AND channel_type = 'group'
    """)
    cr.execute("""
        UPDATE discuss_channel_member m
           SET unpin_dt = now() AT TIME ZONE 'UTC' + interval '1 second'
          FROM discuss_channel c
          JOIN whatsapp_service s ON s.id = c.whatsapp_service_id
         WHERE m.channel_id = c.id
           AND s.state = 'done'
    """)
