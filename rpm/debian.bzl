"""Debian package trees for images, read from the locks in rpm/ (make rpm-deps).

debian_lock(name, lock) is a repository rule: it reads only the lock, downloads every
package from the URL the lock names, and verifies it against the lock's sha256. A package
whose checksum differs fails the build with a message naming it. Downloads land in Bazel's
repository cache (keyed by sha256), so later builds and CI reuse them.

The repository exposes:
  :debs      every package of the lock, in lock order
  :<name>    one package, e.g. @rpm_demo_disk//:busybox-static
"""

def _parse_lock(content, lock_label):
    packages = []
    for number, line in enumerate(content.splitlines()):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        fields = line.split(" ")
        if len(fields) != 5 or not fields[3].startswith("sha256:"):
            fail("%s line %d: want '<name> <version> <arch> sha256:<hex> <url>', got %r; run make rpm-deps" % (lock_label, number + 1, line))
        packages.append(struct(
            name = fields[0],
            version = fields[1],
            arch = fields[2],
            sha256 = fields[3][len("sha256:"):],
            url = fields[4],
        ))
    if not packages:
        fail("%s lists no packages; run make rpm-deps" % lock_label)
    return packages

def _debian_lock_impl(ctx):
    lock_label = str(ctx.attr.lock)
    packages = _parse_lock(ctx.read(ctx.attr.lock), lock_label)
    names = []
    for pkg in packages:
        file = "debs/%s_%s.deb" % (pkg.name, pkg.arch)
        result = ctx.download(
            url = pkg.url,
            output = file,
            sha256 = pkg.sha256,
            allow_fail = True,
        )
        if not result.success:
            fail(("package %s %s from %s: download failed or its sha256 is not %s as %s says. " +
                  "A tampered lock, or Debian replaced the version: run make rpm-deps to refresh the lock. (%s)") %
                 (pkg.name, pkg.version, pkg.url, pkg.sha256, lock_label, result))
        names.append((pkg.name, file))

    build = ['package(default_visibility = ["//visibility:public"])', ""]
    build.append("filegroup(\n    name = \"debs\",\n    srcs = [\n%s    ],\n)\n" %
                 "".join(['        "%s",\n' % f for _, f in names]))
    for name, file in names:
        build.append('filegroup(name = "%s", srcs = ["%s"])' % (name, file))
    ctx.file("BUILD.bazel", "\n".join(build) + "\n")
    ctx.file("WORKSPACE", 'workspace(name = "%s")\n' % ctx.name)

debian_lock = repository_rule(
    implementation = _debian_lock_impl,
    attrs = {
        "lock": attr.label(mandatory = True, allow_single_file = True, doc = "The lock file, e.g. //rpm:launcher.lock"),
    },
    doc = "Downloads and verifies the Debian packages a lock in rpm/ lists.",
)
