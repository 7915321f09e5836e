{
  "targets": [
    {
      "target_name": "iptables_sync",
      "sources": [
        "native/addon.cc",
        "native/lock_binding.cc",
        "native/scanner_binding.cc",
        "native/pipe_binding.cc",
        "native/scan_result.cc",
        "native/hash_binding.cc",
        "native/spawn_binding.cc",
        "native/locks.cc",
        "native/save_scanner.cc",
        "native/hash.cc",
        "native/sha224.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": [
        "NAPI_VERSION=8",
        "NAPI_DISABLE_CPP_EXCEPTIONS",
        "NODE_ADDON_API_DISABLE_DEPRECATED",
        "IPTS_SOURCE_DIGEST=<!(node native/source-digest.js)"
      ],
      "cflags_cc": ["-std=c++17", "-Wall", "-Wextra", "-fno-exceptions"],
      "cflags_cc!": ["-fno-rtti"]
    }
  ]
}
