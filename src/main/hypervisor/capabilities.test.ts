import { describe, expect, it } from 'vitest'
import { parseCapabilities } from './capabilities.js'

const KVM_HOST = `<capabilities>
  <host>
    <uuid>dd8df637-efc3-4199-a8a1-33a422af26ef</uuid>
    <cpu>
      <arch>x86_64</arch>
      <model>Skylake-Client-IBRS</model>
      <vendor>Intel</vendor>
      <topology sockets='1' dies='1' cores='4' threads='2'/>
      <feature name='vme'/>
    </cpu>
  </host>
  <guest>
    <os_type>hvm</os_type>
    <arch name='i686'><domain type='qemu'/></arch>
  </guest>
  <guest>
    <os_type>hvm</os_type>
    <arch name='x86_64'><domain type='qemu'/><domain type='kvm'/></arch>
  </guest>
</capabilities>`

describe('parseCapabilities', () => {
  it('reads the host CPU and sees KVM among the guest types', () => {
    expect(parseCapabilities(KVM_HOST)).toEqual({
      arch: 'x86_64',
      model: 'Skylake-Client-IBRS',
      vendor: 'Intel',
      kvm: true,
    })
  })

  it('says kvm: false when only emulated guests are offered, and leaves out what is missing', () => {
    const tcg = KVM_HOST.replace("<domain type='kvm'/>", '').replace(/<model>.*<\/model>|<vendor>.*<\/vendor>/g, '')
    expect(parseCapabilities(tcg)).toEqual({ arch: 'x86_64', kvm: false })
  })

  it('survives XML it cannot use', () => {
    expect(parseCapabilities('')).toEqual({ kvm: false })
    expect(parseCapabilities('<capabilities><host/></capabilities>')).toEqual({ kvm: false })
    expect(parseCapabilities('<not xml')).toEqual({ kvm: false })
  })
})
