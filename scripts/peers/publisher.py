"""The seed's publisher.py shape: the official Python client, default batching, one
publish per order event read from a JSON-lines file, then wait for every future.

    python publisher.py PROJECT TOPIC EVENTS.jsonl     (PUBSUB_EMULATOR_HOST set)
"""
import sys

from google.cloud import pubsub_v1


def main(project, topic, path):
    publisher = pubsub_v1.PublisherClient()
    topic_path = publisher.topic_path(project, topic)
    futures = []
    with open(path, "rb") as f:
        for line in f:
            futures.append(publisher.publish(topic_path, line.rstrip(b"\n")))
    for fut in futures:
        fut.result()
    print(f"published {len(futures)} messages")


if __name__ == "__main__":
    main(*sys.argv[1:4])
