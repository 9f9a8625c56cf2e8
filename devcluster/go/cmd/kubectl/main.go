// Command kubectl is kubectl (with its built-in kustomize) from the pinned Kubernetes module, so
// `kubectl apply -k manifests/` works here without downloading a release binary.
package main

import (
	"k8s.io/component-base/cli"
	"k8s.io/kubectl/pkg/cmd"
	"k8s.io/kubectl/pkg/cmd/util"
)

func main() {
	if err := cli.RunNoErrOutput(cmd.NewDefaultKubectlCommand()); err != nil {
		util.CheckErr(err)
	}
}
