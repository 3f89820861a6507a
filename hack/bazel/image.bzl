"""hypernest_image: a reproducible container image tarball built by //hack/image-builder.

The image is an OCI image layout in a tarball (what `ctr images import` loads), with:
  - one base layer of Debian packages' files (debs, from a lock in rpm/), if any, less
    the paths deb_excludes names;
  - one layer per entry of files (label -> absolute path in the image);
all with fixed timestamps and root ownership, so the same inputs give the same digest.
Besides <name>.tar the rule writes <name>.digest: "<tag> <digest>" per tag.
"""

def _hypernest_image_impl(ctx):
    tarball = ctx.actions.declare_file(ctx.label.name + ".tar")
    digest = ctx.actions.declare_file(ctx.label.name + ".digest")
    args = ctx.actions.args()
    args.add("--output", tarball)
    args.add_all(ctx.attr.repo_tags, before_each = "--tag")
    args.add_all(ctx.files.debs, before_each = "--deb")
    args.add_all(ctx.attr.deb_excludes, before_each = "--deb-exclude")
    inputs = list(ctx.files.debs)
    for target, dest in ctx.attr.files.items():
        files = target.files.to_list()
        if len(files) != 1:
            fail("%s: files entry %s must be a single file, it has %d" % (ctx.label, target.label, len(files)))
        args.add("--layer", "%s=%s" % (files[0].path, dest))
        inputs.append(files[0])
    args.add_all(ctx.attr.entrypoint, before_each = "--entrypoint")
    args.add_all(ctx.attr.cmd, before_each = "--cmd")
    args.add_all(ctx.attr.env, before_each = "--env")
    if ctx.attr.user:
        args.add("--user", ctx.attr.user)
    if ctx.attr.workdir:
        args.add("--workdir", ctx.attr.workdir)
    ctx.actions.run_shell(
        command = '"$1" "${@:3}" > "$2"',
        arguments = [ctx.executable._builder.path, digest.path, args],
        inputs = inputs,
        tools = [ctx.executable._builder],
        outputs = [tarball, digest],
        mnemonic = "HypernestImage",
        progress_message = "Building image %s" % ctx.attr.repo_tags[0],
    )
    return [DefaultInfo(files = depset([tarball, digest]))]

hypernest_image = rule(
    implementation = _hypernest_image_impl,
    attrs = {
        "repo_tags": attr.string_list(mandatory = True, doc = "Image references, e.g. localhost/hypernest/virt-handler:devel"),
        "debs": attr.label_list(allow_files = [".deb"], doc = "Debian packages for the base layer, e.g. @rpm_launcher//:debs"),
        "deb_excludes": attr.string_list(doc = "Absolute paths the packages provide that the base layer leaves out (a folder: all of it)"),
        "files": attr.label_keyed_string_dict(allow_files = True, doc = "File -> absolute path in the image"),
        "entrypoint": attr.string_list(),
        "cmd": attr.string_list(),
        "env": attr.string_list(doc = "KEY=VALUE"),
        "user": attr.string(),
        "workdir": attr.string(),
        "_builder": attr.label(
            default = "//hack/image-builder",
            executable = True,
            cfg = "exec",
        ),
    },
    doc = "A reproducible image tarball (see the file's documentation).",
)
