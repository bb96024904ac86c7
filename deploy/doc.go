// Package deploy holds the deployment files of the gateway (docker-compose,
// Kubernetes manifests, Prometheus configuration) and, in deploy_test.go, the
// test that keeps them consistent with the configuration they feed: every
// file parses, every GATEWAY_* variable they set is a real configuration key,
// and the configuration files they mount load with config.Load.
package deploy
