#!/usr/bin/env bash
# run-vm.sh KERNEL_DIR INITRAMFS: boot the cgroup v2 test VM and judge its result line (ctest `cgroup-v2`).
#
# Exit 0 when the VM printed `cgroup-v2: P passed, 0 failed` with P > 0; 1 on anything else,
# including no result line at all. Exit 77 (ctest's SKIP_RETURN_CODE) only outside CI (CI != true)
# and only when qemu cannot run or no kernel can be had.
# Environment: VM_KERNEL=vmlinux|vmlinuz picks the image (default: vmlinux when there is one, as
# it boots ~3 s faster); VM_APPEND adds to the kernel command line (e.g. VM_FILTER=Step4Cgroups.*);
# VM_LOG names the log file (default: INITRAMFS's directory/vm.log).
set -euo pipefail

fail() { echo "run-vm.sh: FAIL: $*"; exit 1; }
skip() {  # no VM possible here: a skip outside CI, a failure under CI
  [[ ${CI:-} == true ]] && fail "$* (CI=true: no skipping)"
  echo "run-vm.sh: SKIP: $*"; exit 77
}
[[ $# -eq 2 ]] || fail "usage: run-vm.sh KERNEL_DIR INITRAMFS"
kernel_dir=$1 initramfs=$2
here=$(cd "$(dirname "$0")" && pwd)
log=${VM_LOG:-$(dirname "$initramfs")/vm.log}

qemu-system-x86_64 --version >/dev/null 2>&1 || skip "qemu-system-x86_64 cannot run (apt-get install qemu-system-x86)"
if [[ ! -s $kernel_dir/vmlinuz ]] && command -v apt-get >/dev/null; then
  "$here/fetch-kernel.sh" "$kernel_dir" || true
fi
[[ -s $kernel_dir/vmlinuz && -s $kernel_dir/modules.cpio ]] \
  || skip "no kernel in $kernel_dir (run tests/vm/fetch-kernel.sh $kernel_dir on Debian)"
[[ -s $initramfs ]] || fail "$initramfs is missing (cmake --build BUILD)"

image=${VM_KERNEL:-vmlinux}
[[ -s $kernel_dir/$image ]] || image=vmlinuz
# The kernel module belongs to the kernel, not to the build: append its cpio (the kernel unpacks
# concatenated archives one after the other).
initrd=$(mktemp "${TMPDIR:-/tmp}/vm-initrd.XXXXXX")
trap 'rm -f "$initrd"' EXIT
cat "$initramfs" "$kernel_dir/modules.cpio" >"$initrd"

# TCG: software emulation (KVM cannot be relied on). PVH boots vmlinux without the BIOS stage.
# The sed drops carriage returns and the terminal resets the firmware prints.
echo "run-vm.sh: booting $kernel_dir/$image ($(cat "$kernel_dir/version" 2>/dev/null)), log in $log"
start=$(date +%s.%N)
set +e
timeout -k 5 120 qemu-system-x86_64 -accel tcg -m 1G -nographic -no-reboot -nic none \
  -kernel "$kernel_dir/$image" -initrd "$initrd" \
  -append "console=ttyS0 panic=-1 quiet mitigations=off ${VM_APPEND:-}" </dev/null 2>&1 \
  | sed -u -e 's/\r//g' -e 's/\x1bc//g' -e 's/\x1b\[[0-9;?]*[A-Za-z]//g' | tee "$log"
status=${PIPESTATUS[0]}
set -e
seconds=$(echo "$start $(date +%s.%N)" | awk '{ printf "%.1f", $2 - $1 }')
echo "run-vm.sh: VM wall time ${seconds} s (qemu start to poweroff), qemu status $status"

result=$(grep -E '^cgroup-v2: [0-9]+ passed, [0-9]+ failed' "$log" | tail -n1 || true)
[[ -n $result ]] || fail "the VM printed no result line (qemu status $status; 124 = timed out)"
read -r passed failed < <(echo "$result" | sed -E 's/^cgroup-v2: ([0-9]+) passed, ([0-9]+) failed.*/\1 \2/')
[[ $failed -eq 0 ]] || fail "$result"
[[ $passed -gt 0 ]] || fail "$result (no test ran: check the filter)"
echo "run-vm.sh: PASS: $result"
