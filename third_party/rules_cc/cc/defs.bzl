"""The rules_cc entry points rules_go v0.34.0 loads, mapped to Bazel's built-in C++ rules.

Debian's bazel-rules-cc is written for a newer Bazel (it needs use_cpp_toolchain, which
Bazel 4.2.3 lacks), and no other copy is reachable offline. Bazel 4.2.3 still has every
C++ rule built in, so this repository only re-exports them.
"""

cc_binary = native.cc_binary
cc_import = native.cc_import
cc_library = native.cc_library
cc_proto_library = native.cc_proto_library
cc_test = native.cc_test
cc_toolchain = native.cc_toolchain
cc_toolchain_suite = native.cc_toolchain_suite
fdo_prefetch_hints = native.fdo_prefetch_hints
fdo_profile = native.fdo_profile
objc_import = native.objc_import
objc_library = native.objc_library
