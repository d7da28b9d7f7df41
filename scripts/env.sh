# Sourced by the other scripts.  Debian's own programs come first on PATH,
# so that the system tests find Debian's python3 with its pytest and yaml
# packages, whatever other Python is installed.
PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export PATH
