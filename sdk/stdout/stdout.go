// Package stdout is the stdout capability: writing to the Puma process's
// standard output (grants = { stdout = true }). WASI stdout, which os.Stdout
// and fmt.Print reach inside a plugin, goes to the log instead.
package stdout
