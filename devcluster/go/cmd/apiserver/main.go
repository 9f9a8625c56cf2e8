// Command apiserver runs etcd (embedded) and kube-apiserver in one process.
//
// Usage:
//
//	apiserver serve --etcd-dir DIR --etcd-port N -- <kube-apiserver flags>
//	apiserver compact --etcd-port N
//
// `compact` compacts etcd to its current revision, which is how a test makes
// every older resourceVersion answer 410 Gone.
package main

import (
	"context"
	"flag"
	"fmt"
	"net/url"
	"os"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"k8s.io/component-base/cli"
	"k8s.io/kubernetes/cmd/kube-apiserver/app"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: apiserver serve|compact ...")
		os.Exit(2)
	}
	switch os.Args[1] {
	case "serve":
		os.Exit(serve(os.Args[2:]))
	case "compact":
		os.Exit(compact(os.Args[2:]))
	default:
		fmt.Fprintf(os.Stderr, "unknown command %q\n", os.Args[1])
		os.Exit(2)
	}
}

func serve(args []string) int {
	fs := flag.NewFlagSet("serve", flag.ExitOnError)
	dir := fs.String("etcd-dir", "", "etcd data directory")
	port := fs.Int("etcd-port", 2379, "etcd client port on 127.0.0.1")
	peerPort := fs.Int("etcd-peer-port", 2380, "etcd peer port on 127.0.0.1")
	_ = fs.Parse(args)

	cfg := embed.NewConfig()
	cfg.Dir = *dir
	cfg.Name = "devcluster"
	cfg.LogLevel = "error"
	clientURL, _ := url.Parse(fmt.Sprintf("http://127.0.0.1:%d", *port))
	peerURL, _ := url.Parse(fmt.Sprintf("http://127.0.0.1:%d", *peerPort))
	cfg.ListenClientUrls = []url.URL{*clientURL}
	cfg.AdvertiseClientUrls = []url.URL{*clientURL}
	cfg.ListenPeerUrls = []url.URL{*peerURL}
	cfg.AdvertisePeerUrls = []url.URL{*peerURL}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)

	etcd, err := embed.StartEtcd(cfg)
	if err != nil {
		fmt.Fprintf(os.Stderr, "etcd: %v\n", err)
		return 1
	}
	defer etcd.Close()
	select {
	case <-etcd.Server.ReadyNotify():
	case <-time.After(60 * time.Second):
		fmt.Fprintln(os.Stderr, "etcd: not ready after 60s")
		return 1
	}

	cmd := app.NewAPIServerCommand()
	cmd.SetArgs(append([]string{"--etcd-servers=" + clientURL.String()}, fs.Args()...))
	return cli.Run(cmd)
}

func compact(args []string) int {
	fs := flag.NewFlagSet("compact", flag.ExitOnError)
	port := fs.Int("etcd-port", 2379, "etcd client port on 127.0.0.1")
	_ = fs.Parse(args)

	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   []string{fmt.Sprintf("http://127.0.0.1:%d", *port)},
		DialTimeout: 5 * time.Second,
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "etcd client: %v\n", err)
		return 1
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	// Any key read returns the store's current revision in its header.
	resp, err := cli.Get(ctx, "compact-probe")
	if err != nil {
		fmt.Fprintf(os.Stderr, "etcd get: %v\n", err)
		return 1
	}
	rev := resp.Header.Revision
	if _, err := cli.Compact(ctx, rev, clientv3.WithCompactPhysical()); err != nil {
		fmt.Fprintf(os.Stderr, "etcd compact: %v\n", err)
		return 1
	}
	fmt.Println(rev)
	return 0
}
