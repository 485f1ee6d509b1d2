// hello-go prints a greeting; its name comes from the module path.
package main

import (
	"fmt"
	"path"
	"runtime/debug"
)

func main() {
	name := "hello-go"
	if info, ok := debug.ReadBuildInfo(); ok {
		name = path.Base(info.Main.Path)
	}
	fmt.Printf("hello from %s, built with the go plugin\n", name)
}
