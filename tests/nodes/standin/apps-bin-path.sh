# shellcheck shell=sh
# Expand $PATH to include the directory where snappy applications go (as snapd's own
# /etc/profile.d/apps-bin-path.sh does). Shipped by the sciplat TEST DOUBLE snapd package.
snap_bin_path="/snap/bin"
case ":$PATH:" in
  *":$snap_bin_path:"*) ;;
  *) export PATH="$PATH:$snap_bin_path" ;;
esac
