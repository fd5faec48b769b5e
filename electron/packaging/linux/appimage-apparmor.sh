#!/bin/sh
# Lets Photo Assistant's AppImage start Chromium's sandbox on Ubuntu 23.10 and later, where AppArmor
# only lets programs with a profile create the user namespace the sandbox needs. The deb installs
# such a profile itself; an AppImage can live anywhere, so its profile names the file you keep.
#
#   sudo sh appimage-apparmor.sh ~/Applications/photo-assistant-0.1.0-x86_64.AppImage
#
# It writes /etc/apparmor.d/photo-assistant-appimage for that one path (default_allow: like unconfined,
# but the processes the AppImage starts keep the profile, so the Electron binary inside inherits it)
# and loads it. Moving or renaming the AppImage means running it again. Remove with:
#   sudo apparmor_parser -R /etc/apparmor.d/photo-assistant-appimage && sudo rm /etc/apparmor.d/photo-assistant-appimage
# It never turns the sandbox off and never changes the system-wide user-namespace setting.
set -eu
if [ "$#" -ne 1 ] || [ ! -f "$1" ]; then
  echo "usage: sudo sh $0 /path/to/photo-assistant-<version>-<arch>.AppImage" >&2
  exit 2
fi
appimage=$(readlink -f "$1")
case "$appimage" in
  *\"*|*[[:cntrl:]]*) echo "the path may not contain quotes or control characters: $appimage" >&2; exit 2 ;;
esac
if ! command -v apparmor_parser >/dev/null 2>&1; then
  echo "AppArmor is not installed: the AppImage needs no profile here." >&2
  exit 0
fi
profile=/etc/apparmor.d/photo-assistant-appimage
cat > "$profile" <<PROFILE
abi <abi/4.0>,
include <tunables/global>

profile photo-assistant-appimage "$appimage" flags=(default_allow) {
  userns,

  include if exists <local/photo-assistant-appimage>
}
PROFILE
apparmor_parser -r "$profile"
echo "installed $profile for $appimage"
