"""The project's tests outside the addon (bridge, simulator, end to end, set-up).

A regular package, so that no installed distribution shipping a top-level ``tests`` package
(linkpreview, a dependency of the WhatsApp Web provider, does) can hide it."""
