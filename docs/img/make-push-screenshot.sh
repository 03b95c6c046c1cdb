#!/bin/sh
# Makes docs/img/push.png: the push notification of a claim, as Chromium draws it, over the
# Settings page. Runs the browser test of Web Push with a window on a virtual display (Xvfb)
# instead of headless, and captures the screen when the notification shows.
# Needs: apt-get install -y xvfb imagemagick (and the browser: .ci/install-browser).
set -eu
cd "$(dirname "$0")/../.."
display=:97
Xvfb "$display" -screen 0 1280x800x24 -nolisten tcp &
xvfb=$!
trap 'kill "$xvfb"' EXIT
sleep 1
DISPLAY="$display" ASSENT_PUSH_SCREENSHOT="$PWD/docs/img/push.png" \
  cargo test -p assent-http --test it \
  browser::sqlite::an_owner_enables_push_on_the_settings_page_and_approves_from_the_notification
echo "wrote docs/img/push.png"
