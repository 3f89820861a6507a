// Command podlatency measures how long pods take from create to Running on a cluster:
// it creates N pods at once in a scratch namespace, watches them, and prints the
// latency distribution. A benchmark, not a test: it prints figures and judges nothing.
//
//	podlatency --kubeconfig admin.kubeconfig --pods 20 --image localhost/hypernest/testserver:devel
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"sort"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"
)

func main() {
	kubeconfig := flag.String("kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig of the cluster")
	pods := flag.Int("pods", 20, "number of pods to create at once")
	image := flag.String("image", "localhost/hypernest/testserver:devel", "image of the pods (must be on the node)")
	timeout := flag.Duration("timeout", 5*time.Minute, "give up after this long")
	flag.Parse()
	if err := run(*kubeconfig, *pods, *image, *timeout); err != nil {
		fmt.Fprintln(os.Stderr, "podlatency:", err)
		os.Exit(1)
	}
}

func run(kubeconfig string, n int, image string, timeout time.Duration) error {
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		return fmt.Errorf("loading kubeconfig %q: %w", kubeconfig, err)
	}
	cfg.QPS, cfg.Burst = 100, 200 // measure the cluster, not client-side throttling
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()

	ns, err := client.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{GenerateName: "bench-pods-"}}, metav1.CreateOptions{})
	if err != nil {
		return err
	}
	defer func() {
		_ = client.CoreV1().Namespaces().Delete(context.Background(), ns.Name, metav1.DeleteOptions{})
	}()
	// The namespace's default service account must exist before pods can be admitted.
	for {
		if _, err := client.CoreV1().ServiceAccounts(ns.Name).Get(ctx, "default", metav1.GetOptions{}); err == nil {
			break
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("no default service account in %s: %w", ns.Name, ctx.Err())
		case <-time.After(100 * time.Millisecond):
		}
	}

	w, err := client.CoreV1().Pods(ns.Name).Watch(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	defer w.Stop()

	var mu sync.Mutex
	created := map[string]time.Time{}
	start := time.Now()
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		go func(i int) {
			name := fmt.Sprintf("pod-%02d", i)
			mu.Lock()
			created[name] = time.Now()
			mu.Unlock()
			_, err := client.CoreV1().Pods(ns.Name).Create(ctx, pod(name, image), metav1.CreateOptions{})
			errs <- err
		}(i)
	}
	for i := 0; i < n; i++ {
		if err := <-errs; err != nil {
			return fmt.Errorf("creating pods: %w", err)
		}
	}

	running := map[string]time.Duration{}
	for len(running) < n {
		select {
		case <-ctx.Done():
			return fmt.Errorf("only %d of %d pods Running after %s", len(running), n, timeout)
		case ev, ok := <-w.ResultChan():
			if !ok {
				return fmt.Errorf("watch closed with %d of %d pods Running", len(running), n)
			}
			p, isPod := ev.Object.(*corev1.Pod)
			if !isPod || ev.Type == watch.Deleted {
				continue
			}
			if _, done := running[p.Name]; done || p.Status.Phase != corev1.PodRunning {
				continue
			}
			mu.Lock()
			running[p.Name] = time.Since(created[p.Name])
			mu.Unlock()
		}
	}
	all := time.Since(start)

	latencies := make([]time.Duration, 0, n)
	for _, d := range running {
		latencies = append(latencies, d)
	}
	sort.Slice(latencies, func(i, j int) bool { return latencies[i] < latencies[j] })
	pct := func(p float64) time.Duration { return latencies[int(p*float64(len(latencies)-1)+0.5)] }
	fmt.Printf("pods=%d first=%.2fs p50=%.2fs p95=%.2fs max=%.2fs all-running=%.2fs\n",
		n, latencies[0].Seconds(), pct(0.5).Seconds(), pct(0.95).Seconds(), latencies[n-1].Seconds(), all.Seconds())
	return nil
}

func pod(name, image string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PodSpec{
			TerminationGracePeriodSeconds: ptr.To[int64](0),
			Containers: []corev1.Container{{
				Name: "main", Image: image, ImagePullPolicy: corev1.PullNever, Args: []string{"serve"},
				Resources: corev1.ResourceRequirements{},
			}},
		},
	}
}
