"""The daemon's frontends: the OSC/UDP server (``server``: datagrams in, job-manager calls, job events
out as replies), ``serve``/``send`` on the command line (``cli``), and the ``send`` client (``client``,
``send``) DAW scripts run."""
