# Odoo 18 (the official image) with the whatsapp_attendance addon and its Python needs, run as
# the image's own user "odoo". Used by the odoo and bridge-init services of docker-compose.yml.
FROM odoo:18
USER root
# the addon's external_dependencies (its __manifest__.py)
RUN pip3 install --no-cache-dir --break-system-packages phonenumbers redis qrcode \
    || pip3 install --no-cache-dir phonenumbers redis qrcode
COPY --chown=odoo:odoo whatsapp_attendance /mnt/extra-addons/whatsapp_attendance
COPY docker/odoo-start.sh docker/bridge_init.py /opt/whatsapp/
# the shared volume of the bridge's key: created here so a new volume is owned by odoo
RUN chmod 0755 /opt/whatsapp/odoo-start.sh && install -d -o odoo -g odoo -m 0700 /run/wa
USER odoo
