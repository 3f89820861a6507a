"""The version every component links in, from the workspace status (--stamp in .bazelrc)."""

VERSION_X_DEFS = {
    "github.com/hypernest/hypernest/pkg/version.gitVersion": "{STABLE_HYPERNEST_VERSION}",
    "github.com/hypernest/hypernest/pkg/version.gitCommit": "{STABLE_GIT_COMMIT}",
    "github.com/hypernest/hypernest/pkg/version.gitTreeState": "{STABLE_GIT_TREE_STATE}",
    "github.com/hypernest/hypernest/pkg/version.buildDate": "{STABLE_BUILD_DATE}",
}
